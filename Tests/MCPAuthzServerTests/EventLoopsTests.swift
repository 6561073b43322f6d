import MCPAuthzServer
import Testing

/// Event loops are sized to the CPUs the process may use, read from /proc/self/status.
@Suite struct EventLoopsTests {
    @Test(arguments: [
        ("Name:\tmcp-authz\nCpus_allowed:\t1\nCpus_allowed_list:\t0\n", 1), ("Cpus_allowed:\t3\n", 2), ("Cpus_allowed:\tff\n", 8),
        ("Cpus_allowed:\t00000000,00000101\n", 2), ("Cpus_allowed:\tffffffff,ffffffff\n", 64),
    ])
    func affinityMaskIsCounted(status: String, cpus: Int) {
        #expect(EventLoops.allowedCPUCount(status: status) == cpus)
    }

    @Test(arguments: ["", "Name:\tx\n", "Cpus_allowed:\t0\n", "Cpus_allowed:\tzz\n"])
    func unreadableMaskIsNoCount(status: String) {
        #expect(EventLoops.allowedCPUCount(status: status) == nil)
    }

    @Test func thisProcessMayUseAtLeastOneCPU() {
        #expect((EventLoops.allowedCPUCount() ?? 0) >= 1)
    }
}
