/// The Lua scripts of the shared breaker, embedded at build time from `Lua/*.lua` by the
/// `EmbedText` build plugin (so they stay readable and runnable with `redis-cli --eval`,
/// and the binary needs no resource bundle).
enum LuaSource {}

/// The Lua script behind every change to `cb_state:<name>` (loaded once, run by EVALSHA):
/// `Lua/breaker.lua`.
enum BreakerScript {
    static let source = LuaSource.breaker
}
