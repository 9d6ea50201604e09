"""Resource modules, one class per type. The registry imports a module only when a spec uses its type."""

BUILTIN_MODULES: dict[str, str] = {
    "file": "modules.server.file:FileModule",
    "directory": "modules.server.directory:DirectoryModule",
    "symlink": "modules.server.symlink:SymlinkModule",
    "command": "modules.server.command:CommandModule",
    "docker.image": "modules.docker.image:ImageModule",
    "docker.container": "modules.docker.container:ContainerModule",
    "docker.network": "modules.docker.network:NetworkModule",
    "docker.volume": "modules.docker.volume:VolumeModule",
}
