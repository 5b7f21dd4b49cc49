//! {{name}}: upper-cases the ASCII letters of every record's value (kind: map).
//!
//! One output record per input record. dataflare.zig documents the SDK; build
//! and package with `dataflare plugin build`.

const std = @import("std");
const df = @import("dataflare");

pub const panic = df.panic;

pub fn init(params: df.Params) !void {
    try params.allow(&.{}); // no parameters: refuse unknown ones
}

pub fn process(in: *const df.Batch, out: *df.Output) !void {
    var records = in.records();
    while (records.next()) |r| {
        const value = try df.arena().alloc(u8, r.value.len); // freed when the next batch starts
        for (value, r.value) |*upper, c| upper.* = std.ascii.toUpper(c);
        // A new record that keeps the input's time, key, headers and columns.
        try out.emit(r.index, .{ .timestamp = r.timestamp, .key = r.key, .value = value });
    }
}

comptime {
    df.plugin(@This());
}
