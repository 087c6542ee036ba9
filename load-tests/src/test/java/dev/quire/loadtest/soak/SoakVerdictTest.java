package dev.quire.loadtest.soak;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SoakVerdictTest {
    private static final double MIB = 1024 * 1024;

    private static Gauges gauges(double rssMib, double heapMib, double threads, double fds, double running) {
        return new Gauges(rssMib * MIB, heapMib * MIB, Double.NaN, threads, fds, 0, 0, running, 0, running, 0);
    }

    /** 30 samples: RSS from {@code rss.apply(i)}, a heap saw-tooth on top of {@code heapFloor(i)}. */
    private static List<Sample> load(java.util.function.IntToDoubleFunction rss,
                                     java.util.function.IntToDoubleFunction heapFloor) {
        List<Sample> samples = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            double heap = heapFloor.applyAsDouble(i) + (i % 4) * 40; // fills for three samples, then a collection
            samples.add(new Sample(i * 5, "load", 8, gauges(rss.applyAsDouble(i), heap, 70, 180, 8)));
        }
        return samples;
    }

    @Test
    void aPlateauPassesDespiteEarlyGrowthAndTheHeapSawTooth() {
        // Resident memory climbs for the first third (JIT, allocator arenas), then holds.
        List<Sample> samples = load(i -> 400 + Math.min(i, 10) * 5 + (i % 2) * 0.5, i -> 30);
        assertTrue(SoakVerdict.growth(samples, Gauges::rssBytes, false, Double.NaN) < 0.02);
        assertTrue(Math.abs(SoakVerdict.growth(samples, Gauges::heapBytes, true, Double.NaN)) < 0.02);
        List<SoakVerdict.Check> checks = SoakVerdict.judge(samples, gauges(450, 30, 67, 173, 0),
                gauges(450, 30, 69, 173, 0), 0.02, 4, 0);
        assertTrue(SoakVerdict.passed(checks), checks.toString());
    }

    @Test
    void steadyGrowthFailsThePlateau() {
        // 1 MiB per sample: about 2.1% over the last ten samples of ~470 MiB.
        List<Sample> rssLeak = load(i -> 440 + i, i -> 30);
        assertTrue(SoakVerdict.growth(rssLeak, Gauges::rssBytes, false, Double.NaN) > 0.02);
        assertFalse(check(SoakVerdict.judge(rssLeak, gauges(440, 30, 67, 173, 0), gauges(470, 30, 67, 173, 0),
                0.02, 4, 0), "rss_plateau").passed());
        // A heap whose troughs rise: what survives collections grows.
        List<Sample> heapLeak = load(i -> 450, i -> 30 + i);
        assertTrue(SoakVerdict.growth(heapLeak, Gauges::heapBytes, true, Double.NaN) > 0.02);
        assertFalse(check(SoakVerdict.judge(heapLeak, gauges(450, 30, 67, 173, 0), gauges(450, 60, 67, 173, 0),
                0.02, 4, 0), "heap_plateau").passed());
    }

    @Test
    void heapTroughsAreMeasuredAgainstTheMaximumHeap() {
        // Troughs 35 MiB in the middle third, 38 in the last: +8.6% of the troughs, but 0.6% of a 512 MiB heap.
        List<Sample> samples = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            double heap = (i < 20 ? 35 : 38) + (i % 5) * 25;
            samples.add(new Sample(i * 5, "load", 8, new Gauges(450 * MIB, heap * MIB, 512 * MIB, 70, 180, 0, 0, 8, 0,
                    8, 0)));
        }
        assertTrue(SoakVerdict.growth(samples, Gauges::heapBytes, true, Double.NaN) > 0.08);
        assertEquals(3.0 / 512, SoakVerdict.growth(samples, Gauges::heapBytes, true, 512 * MIB), 1e-9);
        Gauges idle = new Gauges(450 * MIB, 30 * MIB, 512 * MIB, 67, 173, 0, 0, 0, 0, 0, 0);
        assertTrue(check(SoakVerdict.judge(samples, idle, idle, 0.02, 4, 0), "heap_plateau").passed());
        // 20 MiB more surviving collections is a leak at this scale too: 3.9% of the heap.
        for (int i = 20; i < 30; i++) {
            Gauges g = samples.get(i).gauges();
            samples.set(i, new Sample(i * 5, "load", 8, new Gauges(g.rssBytes(), g.heapBytes() + 17 * MIB, 512 * MIB,
                    70, 180, 0, 0, 8, 0, 8, 0)));
        }
        assertFalse(check(SoakVerdict.judge(samples, idle, idle, 0.02, 4, 0), "heap_plateau").passed());
    }

    @Test
    void gaugesThatDoNotReturnToIdleFail() {
        List<Sample> samples = load(i -> 450, i -> 30);
        Gauges baseline = gauges(450, 30, 67, 173, 0);
        Map<String, Gauges> cases = Map.of(
                "requests_idle", gauges(450, 30, 67, 173, 1),
                "threads_idle", gauges(450, 30, 72, 173, 0),
                "fds_idle", gauges(450, 30, 67, 178, 0));
        cases.forEach((name, after) -> {
            List<SoakVerdict.Check> checks = SoakVerdict.judge(samples, baseline, after, 0.02, 4, 0);
            assertFalse(check(checks, name).passed(), name);
            assertEquals(1, checks.stream().filter(c -> !c.passed()).count(), checks.toString());
        });
        Gauges kvHeld = new Gauges(450 * MIB, 30 * MIB, Double.NaN, 67, 173, 0.01, 3, 0, 0, 0, 0);
        assertFalse(check(SoakVerdict.judge(samples, baseline, kvHeld, 0.02, 4, 0), "requests_idle").passed());
        assertFalse(check(SoakVerdict.judge(samples, baseline, baseline, 0.02, 4, 1), "answers").passed());
    }

    @Test
    void tooFewSamplesOrAMissingGaugeIsNotAPass() {
        List<Sample> few = load(i -> 450, i -> 30).subList(0, 5);
        assertFalse(check(SoakVerdict.judge(few, gauges(450, 30, 67, 173, 0), gauges(450, 30, 67, 173, 0), 0.02, 4,
                0), "rss_plateau").passed());
        Gauges noFds = new Gauges(450 * MIB, 30 * MIB, Double.NaN, 67, Double.NaN, 0, 0, 0, 0, 0, 0);
        assertFalse(check(SoakVerdict.judge(load(i -> 450, i -> 30), noFds, noFds, 0.02, 4, 0), "fds_idle").passed());
    }

    @Test
    void parsesTheServersExposition() {
        String text = """
                # HELP jvm_memory_used_bytes The amount of used memory
                # TYPE jvm_memory_used_bytes gauge
                jvm_memory_used_bytes{area="heap",id="G1 Eden Space"} 2097152.0
                jvm_memory_used_bytes{area="heap",id="G1 Old Gen"} 2.2309376E7
                jvm_memory_used_bytes{area="nonheap",id="Metaspace"} 5.110716E7
                jvm_memory_max_bytes{area="heap",id="G1 Eden Space"} -1.0
                jvm_memory_max_bytes{area="heap",id="G1 Old Gen"} 5.36870912E8
                jvm_memory_max_bytes{area="nonheap",id="Metaspace"} -1.0
                jvm_threads_live_threads 46.0
                process_files_open_files 173.0
                process_resident_memory_bytes 4.10996736E8
                quire_gateway_requests_in_flight 2.0
                quire_gateway_requests_queued 0.0
                quire_kv_cache_blocks{model_name="stories260K"} 3276.0
                quire_kv_cache_blocks_used{model_name="stories260K"} 12.0
                quire_kv_cache_usage_perc{model_name="stories260K"} 0.0037
                quire_num_requests_running{model_name="stories260K"} 2.0
                quire_num_requests_waiting{model_name="stories260K"} 0.0
                """;
        Gauges g = Gauges.parse(text);
        assertEquals(2097152.0 + 2.2309376E7, g.heapBytes());
        assertEquals(4.10996736E8, g.rssBytes());
        assertEquals(5.36870912E8, g.heapMaxBytes());
        assertEquals(46, g.threads());
        assertEquals(173, g.fds());
        assertEquals(12, g.kvBlocksUsed());
        assertEquals(0.0037, g.kvUsage());
        assertEquals(2, g.running());
        assertEquals(2, g.inFlight());
        assertFalse(g.idle());
        assertEquals("running 2, in_flight 2, kv_blocks_used 12", g.busy());
        assertTrue(Double.isNaN(Gauges.parse("quire_num_requests_running 0.0\n").rssBytes()));
    }

    private static SoakVerdict.Check check(List<SoakVerdict.Check> checks, String name) {
        return checks.stream().filter(c -> c.name().equals(name)).findFirst().orElseThrow();
    }
}
