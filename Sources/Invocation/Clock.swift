#if canImport(Glibc)
    import Glibc
#endif

/// Wall-clock seconds since the Unix epoch.
func currentEpochSeconds() -> Int {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int(ts.tv_sec)
}
