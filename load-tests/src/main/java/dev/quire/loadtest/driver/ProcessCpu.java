package dev.quire.loadtest.driver;

import java.lang.management.ManagementFactory;

/** CPU time used by this JVM process, so a saturated load generator shows up in its own report. */
public final class ProcessCpu {
    private ProcessCpu() {
    }

    /** Process CPU time in nanoseconds (all threads, user + system), or -1 when the JVM cannot tell. */
    public static long nanos() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getProcessCpuTime();
        }
        return -1;
    }
}
