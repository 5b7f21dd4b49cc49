//! {{name}}: one output record per comma-separated item of each value (kind: flat_map).
//!
//! "a,b,,c" gives three records "a", "b" and "c", each with its input's time,
//! key, headers and columns. dataflare.zig documents the SDK; build and package
//! with `dataflare plugin build`.

const std = @import("std");
const df = @import("dataflare");

pub const panic = df.panic;

pub fn init(params: df.Params) !void {
    try params.allow(&.{});
}

pub fn process(in: *const df.Batch, out: *df.Output) !void {
    var records = in.records();
    while (records.next()) |r| {
        var items = std.mem.tokenizeScalar(u8, r.value, ',');
        while (items.next()) |item| {
            try out.emit(r.index, .{ .timestamp = r.timestamp, .key = r.key, .value = item });
        }
    }
}

comptime {
    df.plugin(@This());
}
