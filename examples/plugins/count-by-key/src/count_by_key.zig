//! acme/count-by-key: counts the records of each key and emits the counts when
//! flushed (kind: aggregate).
//!
//! `process` only counts. `flush` (the end of a window, or of the input) emits
//! one record per key, in order of first appearance: the key, the count as
//! decimal text in the value, the count again in the i64 column `count`, and
//! the latest event time seen for the key; then it starts again from zero.
//! Records without a key are counted under the empty key.
//!
//! State (`snapshot`/`restore`): u32 version 1, u32 number of keys, then per
//! key: u32 length, key bytes, u64 count, i64 latest time; little-endian.

const std = @import("std");
const df = @import("dataflare");

pub const panic = df.panic;

const Tally = struct { count: u64, latest: i64 };

/// Keys are owned copies in state memory; input bytes do not outlive a call.
var tallies: std.StringArrayHashMapUnmanaged(Tally) = .empty;

const state_version = 1;

pub fn init(params: df.Params) !void {
    try params.allow(&.{});
}

pub fn process(in: *const df.Batch, out: *df.Output) !void {
    _ = out; // counts are emitted by flush
    var records = in.records();
    while (records.next()) |r| try add(&tallies, r.key, 1, r.timestamp);
}

fn add(map: *std.StringArrayHashMapUnmanaged(Tally), key: []const u8, count: u64, when: i64) !void {
    const slot = try map.getOrPut(df.state_allocator, key);
    if (!slot.found_existing) {
        slot.key_ptr.* = df.state_allocator.dupe(u8, key) catch |err| {
            map.swapRemoveAt(slot.index);
            return err;
        };
        slot.value_ptr.* = .{ .count = 0, .latest = when };
    }
    slot.value_ptr.count += count;
    slot.value_ptr.latest = @max(slot.value_ptr.latest, when);
}

pub fn flush(out: *df.Output) !void {
    const column = try out.addColumn("count", .i64);
    for (tallies.keys(), tallies.values()) |key, tally| {
        const text = try std.fmt.allocPrint(df.arena(), "{d}", .{tally.count});
        try out.emit(null, .{ .timestamp = tally.latest, .key = key, .value = text });
        try out.setInt(column, @intCast(tally.count));
    }
    clear(&tallies);
}

fn clear(map: *std.StringArrayHashMapUnmanaged(Tally)) void {
    for (map.keys()) |key| df.state_allocator.free(key);
    map.clearRetainingCapacity();
}

pub fn snapshot(state: *df.Buffer) !void {
    try state.writeInt(u32, state_version);
    try state.writeInt(u32, @intCast(tallies.count()));
    for (tallies.keys(), tallies.values()) |key, tally| {
        try state.writeBytes(key);
        try state.writeInt(u64, tally.count);
        try state.writeInt(i64, tally.latest);
    }
}

pub fn restore(state: []const u8) !void {
    // Read everything into a new map first: bad bytes leave the current state alone.
    var fresh: std.StringArrayHashMapUnmanaged(Tally) = .empty;
    errdefer {
        clear(&fresh);
        fresh.deinit(df.state_allocator);
    }
    if (state.len != 0) {
        var c: df.Cursor = .{ .rest = state };
        if (try c.readInt(u32) != state_version) return df.fail(df.status.bad_input, "count-by-key: unknown state version");
        for (0..try c.readInt(u32)) |_| {
            const key = try c.readBytes();
            const count = try c.readInt(u64);
            try add(&fresh, key, count, try c.readInt(i64));
        }
        if (!c.done()) return error.BadInput;
    }
    clear(&tallies);
    tallies.deinit(df.state_allocator);
    tallies = fresh;
}

comptime {
    df.plugin(@This());
}
