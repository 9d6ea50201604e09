"""The Docker resource types (container, image, network, volume), one list call per engine and type.
Imports only the contract."""
