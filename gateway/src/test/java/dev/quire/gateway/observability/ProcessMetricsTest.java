package dev.quire.gateway.observability;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class ProcessMetricsTest {
    private static double gauge(String scrape, String series) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(scrape);
        assertThat(m.find()).as(series + " in:%n" + scrape).isTrue();
        return Double.parseDouble(m.group(1));
    }

    @Test
    void exportsTheProcessHealthGauges() {
        String scrape = new GatewayMetrics().scrape();
        assertThat(gauge(scrape, "jvm_threads_live_threads")).isEqualTo(Thread.getAllStackTraces().size(),
                org.assertj.core.data.Offset.offset(20.0));
        assertThat(scrape).containsPattern("jvm_memory_used_bytes\\{area=\"heap\",id=\"[^\"]+\"} [0-9.E]+");
        assertThat(gauge(scrape, "process_files_open_files")).isPositive();
    }

    @Test
    void residentMemoryIsTheKernelsFigure() throws Exception {
        assumeTrue(Files.isReadable(Path.of("/proc/self/status")), "Linux only");
        double rss = gauge(new GatewayMetrics().scrape(), "process_resident_memory_bytes");
        // The JVM running this test holds tens of MiB at least, and less than the machine has.
        assertThat(rss).isGreaterThan(16 * 1024 * 1024).isLessThan(Runtime.getRuntime().maxMemory() * 4.0 + 4e9);
        long kb = Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmRSS:"))
                .map(l -> Long.parseLong(l.replaceAll("[^0-9]", ""))).findFirst().orElseThrow();
        assertThat(rss).isCloseTo(kb * 1024.0, org.assertj.core.data.Percentage.withPercentage(25));
    }
}
