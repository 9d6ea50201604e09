"""Resource modules, one class per type. The registry imports a module only when a spec uses its type."""

BUILTIN_MODULES: dict[str, str] = {
    "file": "modules.server.file:FileModule",
    "directory": "modules.server.directory:DirectoryModule",
    "symlink": "modules.server.symlink:SymlinkModule",
    "command": "modules.server.command:CommandModule",
    "package": "modules.server.package:PackageModule",
    "service": "modules.server.service:ServiceModule",
    "user": "modules.server.user:UserModule",
    "group": "modules.server.group:GroupModule",
    "line_in_file": "modules.server.line_in_file:LineInFileModule",
    "cron": "modules.server.cron:CronModule",
    "docker.image": "modules.docker.image:ImageModule",
    "docker.container": "modules.docker.container:ContainerModule",
    "docker.network": "modules.docker.network:NetworkModule",
    "docker.volume": "modules.docker.volume:VolumeModule",
    "aws.vpc": "modules.aws.vpc:VpcModule",
    "aws.subnet": "modules.aws.subnet:SubnetModule",
    "aws.security_group": "modules.aws.security_group:SecurityGroupModule",
    "aws.s3_bucket": "modules.aws.s3_bucket:S3BucketModule",
    "aws.dynamodb_table": "modules.aws.dynamodb_table:DynamodbTableModule",
    "aws.iam_role": "modules.aws.iam_role:IamRoleModule",
}
