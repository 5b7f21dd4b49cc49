//! {{name}}: counts the records it sees and emits the count when flushed (kind: aggregate).
//!
//! `process` only counts; `flush` (the end of a window, or of the input) emits
//! one record whose value is the count in decimal and whose i64 column `count`
//! holds it, then starts again from zero. The host checkpoints the count
//! through `snapshot` and `restore`. dataflare.zig documents the SDK; build and
//! package with `dataflare plugin build`.

const std = @import("std");
const df = @import("dataflare");

pub const panic = df.panic;

var seen: u64 = 0; // records since the last flush
var latest: i64 = 0; // the latest event time seen

pub fn init(params: df.Params) !void {
    try params.allow(&.{});
}

pub fn process(in: *const df.Batch, out: *df.Output) !void {
    _ = out; // an aggregate emits from flush
    for (0..in.len()) |i| latest = @max(latest, in.timestamp(@intCast(i)));
    seen += in.len();
}

pub fn flush(out: *df.Output) !void {
    if (seen == 0) return;
    const count = try out.addColumn("count", .i64);
    const text = try std.fmt.allocPrint(df.arena(), "{d}", .{seen});
    try out.emit(null, .{ .timestamp = latest, .value = text });
    try out.setInt(count, @intCast(seen));
    seen = 0;
}

pub fn snapshot(state: *df.Buffer) !void {
    try state.writeInt(u64, seen);
    try state.writeInt(i64, latest);
}

pub fn restore(state: []const u8) !void {
    var c: df.Cursor = .{ .rest = state };
    const count = if (state.len == 0) 0 else try c.readInt(u64);
    const when = if (state.len == 0) 0 else try c.readInt(i64);
    if (!c.done()) return error.BadInput;
    seen = count;
    latest = when;
}

comptime {
    df.plugin(@This());
}
