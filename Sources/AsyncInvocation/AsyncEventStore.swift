import Foundation
internal import GRDB
public import LambdaModel

/// The durable side of asynchronous invocation: the queued events, the event-invoke configurations and the
/// dead-letter targets, in `<data>/async.sqlite` (SQLite through GRDB, WAL, `synchronous = FULL`), so that an
/// event accepted with 202 survives a killed server and power loss.
///
/// A database of its own rather than tables in the registry: the queue writes on every attempt, and its
/// schema changes with the queue, not with the functions. All calls are synchronous and may block on disk: call
/// them from the blocking thread pool.
public final class AsyncEventStore: Sendable {
    let queue: DatabaseQueue
    public let path: String

    /// One queued event.
    public struct Event: Sendable, Hashable {
        /// The invocation's request id, kept across retries as AWS does.
        public var id: String
        public var function: String
        /// nil: unqualified (`$LATEST`).
        public var qualifier: String?
        public var payload: [UInt8]
        public var traceHeader: String?
        public var progress: RetryPolicy.Progress
        /// When it is due (seconds since 1970).
        public var nextAttemptAt: Double

        public init(
            id: String, function: String, qualifier: String?, payload: [UInt8], traceHeader: String? = nil,
            progress: RetryPolicy.Progress, nextAttemptAt: Double
        ) {
            self.id = id
            self.function = function
            self.qualifier = qualifier
            self.payload = payload
            self.traceHeader = traceHeader
            self.progress = progress
            self.nextAttemptAt = nextAttemptAt
        }
    }

    /// A stored event-invoke configuration with its `LastModified` (seconds since 1970).
    public struct StoredConfig: Sendable, Hashable {
        public var function: String
        /// `$LATEST`, a version number or an alias name.
        public var qualifier: String
        public var config: EventInvokeConfig
        public var lastModified: Double
    }

    public struct StoreError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(dataDirectory: String) throws {
        path = "\(dataDirectory)/async.sqlite"
        var configuration = Configuration()
        configuration.label = "async-events"
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(queue)
        } catch {
            throw StoreError(description: "cannot open the async event queue \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: events, event invoke configs, dead-letter targets") { db in
            try db.execute(
                sql: """
                    CREATE TABLE events (
                        id TEXT PRIMARY KEY NOT NULL,
                        function TEXT NOT NULL,
                        qualifier TEXT,
                        payload BLOB NOT NULL,
                        trace_header TEXT,
                        enqueued_at REAL NOT NULL,
                        invoke_count INTEGER NOT NULL DEFAULT 0,
                        throttle_count INTEGER NOT NULL DEFAULT 0,
                        next_attempt_at REAL NOT NULL,
                        sequence INTEGER NOT NULL
                    );
                    CREATE INDEX events_due ON events (next_attempt_at, sequence);
                    CREATE TABLE event_invoke_configs (
                        function TEXT NOT NULL,
                        qualifier TEXT NOT NULL,
                        maximum_retry_attempts INTEGER,
                        maximum_event_age INTEGER,
                        on_success TEXT,
                        on_failure TEXT,
                        last_modified REAL NOT NULL,
                        PRIMARY KEY (function, qualifier)
                    );
                    CREATE TABLE dead_letter_targets (
                        function TEXT PRIMARY KEY NOT NULL,
                        target_arn TEXT NOT NULL
                    );
                    """)
        }
        return migrator
    }

    private func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.write(body)
        } catch {
            throw StoreError(description: "the async event queue \(path): \(error)")
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.read(body)
        } catch {
            throw StoreError(description: "the async event queue \(path): \(error)")
        }
    }

    // MARK: events

    /// Stores a new event; returns once it is on disk.
    public func enqueue(_ event: Event) throws {
        try write { db in
            let sequence = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(sequence), 0) + 1 FROM events") ?? 1
            try db.execute(
                sql: """
                    INSERT INTO events (id, function, qualifier, payload, trace_header, enqueued_at, invoke_count,
                        throttle_count, next_attempt_at, sequence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    event.id, event.function, event.qualifier, Data(event.payload), event.traceHeader,
                    event.progress.enqueuedAt, event.progress.invokeCount, event.progress.throttleCount,
                    event.nextAttemptAt, sequence,
                ])
        }
    }

    /// Events due at `now`, oldest first, leaving out `excluding` (those already running), at most `limit`.
    public func due(now: Double, excluding: Set<String>, limit: Int) throws -> [Event] {
        guard limit > 0 else { return [] }
        return try read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM events WHERE next_attempt_at <= ? ORDER BY next_attempt_at, sequence LIMIT ?",
                arguments: [now, limit + excluding.count])
            return rows.lazy.map(Self.event).filter { !excluding.contains($0.id) }.prefix(limit).map { $0 }
        }
    }

    /// When the next event not in `excluding` is due; nil when there is none.
    public func nextDue(excluding: Set<String>) throws -> Double? {
        try read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT id, next_attempt_at FROM events ORDER BY next_attempt_at, sequence LIMIT ?",
                arguments: [excluding.count + 1])
            for row in rows where !excluding.contains(row["id"]) { return row["next_attempt_at"] }
            return nil
        }
    }

    /// Records an attempt's progress and when to try again.
    public func reschedule(_ id: String, progress: RetryPolicy.Progress, at: Double) throws {
        try write { db in
            try db.execute(
                sql: "UPDATE events SET invoke_count = ?, throttle_count = ?, next_attempt_at = ? WHERE id = ?",
                arguments: [progress.invokeCount, progress.throttleCount, at, id])
        }
    }

    public func remove(_ id: String) throws {
        try write { db in try db.execute(sql: "DELETE FROM events WHERE id = ?", arguments: [id]) }
    }

    /// Every queued event (for tests and `/status`).
    public func count() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0 }
    }

    private static func event(_ row: Row) -> Event {
        let payload: Data = row["payload"]
        return Event(
            id: row["id"], function: row["function"], qualifier: row["qualifier"], payload: Array(payload),
            traceHeader: row["trace_header"],
            progress: RetryPolicy.Progress(
                enqueuedAt: row["enqueued_at"], invokeCount: row["invoke_count"], throttleCount: row["throttle_count"]),
            nextAttemptAt: row["next_attempt_at"])
    }

    // MARK: event-invoke configurations

    public func config(function: String, qualifier: String) throws -> StoredConfig? {
        try read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM event_invoke_configs WHERE function = ? AND qualifier = ?",
                arguments: [function, qualifier]
            ).map(Self.storedConfig)
        }
    }

    /// Every configuration of a function, by qualifier.
    public func configs(function: String) throws -> [StoredConfig] {
        try read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM event_invoke_configs WHERE function = ? ORDER BY qualifier",
                arguments: [function]
            ).map(Self.storedConfig)
        }
    }

    /// Stores (replacing) one configuration; returns it as stored.
    @discardableResult
    public func putConfig(
        function: String, qualifier: String, _ config: EventInvokeConfig, now: Double
    ) throws
        -> StoredConfig
    {
        try write { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO event_invoke_configs (function, qualifier, maximum_retry_attempts,
                        maximum_event_age, on_success, on_failure, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    function, qualifier, config.maximumRetryAttempts, config.maximumEventAgeInSeconds,
                    config.onSuccess, config.onFailure, now,
                ])
        }
        return StoredConfig(function: function, qualifier: qualifier, config: config, lastModified: now)
    }

    /// Removes one configuration; false when there was none.
    @discardableResult
    public func deleteConfig(function: String, qualifier: String) throws -> Bool {
        try write { db in
            try db.execute(
                sql: "DELETE FROM event_invoke_configs WHERE function = ? AND qualifier = ?",
                arguments: [function, qualifier])
            return db.changesCount > 0
        }
    }

    private static func storedConfig(_ row: Row) -> StoredConfig {
        StoredConfig(
            function: row["function"], qualifier: row["qualifier"],
            config: EventInvokeConfig(
                maximumRetryAttempts: row["maximum_retry_attempts"], maximumEventAgeInSeconds: row["maximum_event_age"],
                onSuccess: row["on_success"], onFailure: row["on_failure"]),
            lastModified: row["last_modified"])
    }

    // MARK: dead-letter targets

    public func deadLetterTarget(function: String) throws -> String? {
        try read { db in
            try String.fetchOne(
                db, sql: "SELECT target_arn FROM dead_letter_targets WHERE function = ?", arguments: [function])
        }
    }

    /// Sets (or, with nil or an empty ARN, clears) a function's dead-letter target.
    public func setDeadLetterTarget(function: String, _ arn: String?) throws {
        try write { db in
            if let arn, !arn.isEmpty {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO dead_letter_targets (function, target_arn) VALUES (?, ?)",
                    arguments: [function, arn])
            } else {
                try db.execute(sql: "DELETE FROM dead_letter_targets WHERE function = ?", arguments: [function])
            }
        }
    }
}
