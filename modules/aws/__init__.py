"""The AWS resource types. Each is one class and one schema: `Ec2Module` (`ec2_base`) for EC2 objects found
by id and tags, `NamedModule` (`named_base`) for objects found by a unique name, `ChildModule`
(`child_base`) for untagged objects of a parent (subscriptions, permissions, DNS records); `common` holds the shared
helpers (errors, paging, ownership tags, create-once). Imports only the contract."""
