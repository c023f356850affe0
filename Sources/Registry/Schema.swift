internal import GRDB

/// The registry's tables, created and upgraded by GRDB migrations (docs/registry.md describes them).
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: functions, versions, aliases") { db in
            try db.execute(
                sql: """
                    CREATE TABLE functions (
                        name TEXT PRIMARY KEY NOT NULL,
                        last_published INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE versions (
                        function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
                        number INTEGER NOT NULL CHECK (number >= 0),
                        runtime TEXT NOT NULL,
                        python_interpreter TEXT,
                        handler TEXT NOT NULL,
                        memory_size INTEGER NOT NULL,
                        timeout INTEGER NOT NULL,
                        maximum_concurrency INTEGER NOT NULL,
                        environment BLOB NOT NULL,
                        code_sha256 TEXT NOT NULL,
                        code_size INTEGER NOT NULL,
                        description TEXT NOT NULL,
                        revision_id TEXT NOT NULL,
                        last_modified TEXT NOT NULL,
                        PRIMARY KEY (function_name, number)
                    );
                    CREATE TABLE aliases (
                        function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
                        name TEXT NOT NULL,
                        primary_version TEXT NOT NULL,
                        additional_version TEXT,
                        additional_weight REAL NOT NULL DEFAULT 0,
                        stickiness TEXT,
                        description TEXT NOT NULL,
                        revision_id TEXT NOT NULL,
                        PRIMARY KEY (function_name, name)
                    );
                    """)
        }
        migrator.registerMigration("v2: layers") { db in
            try db.execute(
                sql: """
                    ALTER TABLE versions ADD COLUMN layers TEXT NOT NULL DEFAULT '[]';
                    CREATE TABLE layers (
                        name TEXT PRIMARY KEY NOT NULL,
                        last_version INTEGER NOT NULL DEFAULT 0
                    );
                    CREATE TABLE layer_versions (
                        layer_name TEXT NOT NULL REFERENCES layers(name) ON DELETE CASCADE,
                        number INTEGER NOT NULL CHECK (number >= 1),
                        code_sha256 TEXT NOT NULL,
                        code_size INTEGER NOT NULL,
                        description TEXT NOT NULL,
                        compatible_runtimes TEXT NOT NULL,
                        created_date TEXT NOT NULL,
                        PRIMARY KEY (layer_name, number)
                    );
                    """)
        }
        migrator.registerMigration("v3: logging config") { db in
            // The function's LoggingConfiguration as JSON; '' (rows from before) is the default configuration.
            try db.execute(sql: "ALTER TABLE versions ADD COLUMN logging_config TEXT NOT NULL DEFAULT ''")
        }
        migrator.registerMigration("v4: tracing config") { db in
            // The function's TracingConfig mode; rows from before are PassThrough, the default.
            try db.execute(sql: "ALTER TABLE versions ADD COLUMN tracing_mode TEXT NOT NULL DEFAULT 'PassThrough'")
        }
        migrator.registerMigration("v5: tags") { db in
            // TagResource / CreateFunction's Tags, per function (AWS refuses tags on versions and aliases).
            try db.execute(
                sql: """
                    CREATE TABLE tags (
                        function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
                        key TEXT NOT NULL,
                        value TEXT NOT NULL,
                        PRIMARY KEY (function_name, key)
                    )
                    """)
        }
        migrator.registerMigration("v6: concurrency") { db in
            // PutFunctionConcurrency and PutProvisionedConcurrencyConfig through the control API, for functions and
            // qualifiers the configuration does not declare (it keeps its own, see docs/control-api.md).
            try db.execute(
                sql: """
                    CREATE TABLE reserved_concurrency (
                        function_name TEXT PRIMARY KEY NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
                        reserved INTEGER NOT NULL CHECK (reserved >= 0)
                    );
                    CREATE TABLE provisioned_concurrency (
                        function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
                        qualifier TEXT NOT NULL,
                        requested INTEGER NOT NULL CHECK (requested >= 1),
                        last_modified TEXT NOT NULL,
                        PRIMARY KEY (function_name, qualifier)
                    );
                    """)
        }
        migrator.registerMigration("v7: layers through the API") { db in
            // DeleteLayerVersion hides a version (functions that use it keep running it); PublishLayerVersion's
            // CompatibleArchitectures and LicenseInfo.
            try db.execute(
                sql: """
                    ALTER TABLE layer_versions ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE layer_versions ADD COLUMN compatible_architectures TEXT NOT NULL DEFAULT '[]';
                    ALTER TABLE layer_versions ADD COLUMN license_info TEXT;
                    """)
        }
        migrator.registerMigration("v8: resource policies") { db in
            // AddPermission statements per function and qualifier ('' for the unqualified function), in the order
            // they were added, and each policy's RevisionId.
            try db.execute(
                sql: """
                    CREATE TABLE policies (
                        function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
                        qualifier TEXT NOT NULL,
                        revision_id TEXT NOT NULL,
                        PRIMARY KEY (function_name, qualifier)
                    );
                    CREATE TABLE policy_statements (
                        function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
                        qualifier TEXT NOT NULL,
                        sid TEXT NOT NULL,
                        position INTEGER NOT NULL,
                        statement TEXT NOT NULL,
                        PRIMARY KEY (function_name, qualifier, sid)
                    );
                    """)
        }
        migrator.registerMigration("v9: load balancer grants") { db in
            // The statements Albatross added to resource policies for the target groups of the YAML (as SAM adds
            // an AWS::Lambda::Permission for an ALB event), one per target group: what was granted, so a statement
            // the user removed is not added again, and a group that leaves the YAML takes its statement with it.
            try db.execute(
                sql: """
                    CREATE TABLE load_balancer_grants (
                        target_group TEXT PRIMARY KEY,
                        function_name TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
                        qualifier TEXT NOT NULL,
                        target_group_arn TEXT NOT NULL,
                        sid TEXT NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v10: execution roles") { db in
            // CreateFunction's Role, kept by every version published from it; '' for a function of the
            // configuration file.
            try db.execute(sql: "ALTER TABLE versions ADD COLUMN role TEXT NOT NULL DEFAULT ''")
        }
        return migrator
    }
}
