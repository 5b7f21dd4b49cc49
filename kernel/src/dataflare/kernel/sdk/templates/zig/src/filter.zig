//! {{name}}: keeps the records whose value contains the parameter `needle` (kind: filter).
//!
//! Kept records pass through unchanged, typed columns included. dataflare.zig
//! documents the SDK; build and package with `dataflare plugin build`.

const std = @import("std");
const df = @import("dataflare");

pub const panic = df.panic;

var needle: []const u8 = ""; // parameters stay valid for the life of the plugin

pub fn init(params: df.Params) !void {
    try params.allow(&.{"needle"});
    needle = params.get("needle") orelse "";
    if (needle.len == 0) return df.configError("set the parameter 'needle' to the text a value must contain");
}

pub fn process(in: *const df.Batch, out: *df.Output) !void {
    var records = in.records();
    while (records.next()) |r| {
        if (std.mem.find(u8, r.value, needle) != null) try out.emitInput(r.index);
    }
}

comptime {
    df.plugin(@This());
}
