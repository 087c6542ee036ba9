package dev.quire.scheduler.bench;

import dev.quire.scheduler.batch.Scheduler;
import dev.quire.scheduler.batch.SchedulerConfig;
import dev.quire.scheduler.batch.Sequence;
import dev.quire.scheduler.batch.StepPlan;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * One decode step of the step planner: {@code plan()} + {@code commit()} with every running sequence decoding one
 * token (prefix caching on, so every 16th step per sequence also registers a full block).
 *
 * <p>Run with {@code ./mvnw -q -B -pl scheduler test-compile exec:exec@bench} (see scheduler/pom.xml), or with
 * {@code java -cp <test classpath> dev.quire.scheduler.bench.StepPlannerBenchmark [JMH options]}.
 *
 * <p>Each sequence starts with a distinct 512-token prompt, prefilled during setup. Contexts grow by one token per
 * step; after {@value #STEPS_BEFORE_RESET} steps the scheduler is rebuilt outside the measured time so contexts stay
 * in a realistic 512-1536 range; the rebuild ends with a {@code System.gc()}, also unmeasured.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
@State(Scope.Thread)
public class StepPlannerBenchmark {

    static final int PROMPT_LENGTH = 512;
    static final int STEPS_BEFORE_RESET = 1024;
    static final int BLOCK_SIZE = 16;
    static final int VOCABULARY = 32_000;

    @Param({"256", "1024"})
    public int runningSequences;

    private Scheduler scheduler;
    private int[] sampled;
    private int steps;

    @Setup(Level.Trial)
    public void setUp() {
        sampled = new int[runningSequences];
        Arrays.fill(sampled, 42);
        rebuild();
    }

    /** Per-invocation setup only does work every {@value #STEPS_BEFORE_RESET} steps; at ~10-100 µs per op its cost is noise. */
    @Setup(Level.Invocation)
    public void resetWhenContextsGrewTooLong() {
        if (steps >= STEPS_BEFORE_RESET) {
            rebuild();
        }
    }

    @Benchmark
    public StepPlan decodeStep() {
        StepPlan plan = scheduler.plan();
        scheduler.commit(plan, sampled);
        steps++;
        return plan;
    }

    private void rebuild() {
        scheduler = null; // let the old one die before the collection below
        int maxLength = PROMPT_LENGTH + STEPS_BEFORE_RESET + 2;
        int blocksPerSequence = (maxLength + BLOCK_SIZE - 1) / BLOCK_SIZE;
        SchedulerConfig config = new SchedulerConfig(runningSequences * blocksPerSequence, BLOCK_SIZE, 2048,
                runningSequences, 8192, true, 0L);
        scheduler = new Scheduler(config);
        for (int s = 0; s < runningSequences; s++) {
            int[] prompt = new int[PROMPT_LENGTH];
            for (int i = 0; i < PROMPT_LENGTH; i++) {
                prompt[i] = (s * PROMPT_LENGTH + i) % VOCABULARY;
            }
            scheduler.add(new Sequence("req-" + s, prompt, 0));
        }
        // Prefill everything (chunked by the 2048-token budget) until every sequence decodes.
        while (true) {
            StepPlan plan = scheduler.plan();
            scheduler.commit(plan, new int[plan.items().size()]);
            boolean allDecoding = plan.items().size() == runningSequences
                    && plan.items().stream().allMatch(item -> item.samples() && item.numTokens() == 1);
            if (allDecoding) {
                break;
            }
        }
        steps = 0;
        // A server's scheduler state is long-lived; collect now (unmeasured) so the freshly built state is tenured
        // rather than copied by every young collection inside the measured steps, and the old state is gone.
        System.gc();
    }

    /** Runs this benchmark; arguments are JMH command-line options (e.g. {@code -p runningSequences=256}). */
    public static void main(String[] args) throws Exception {
        String[] jmhArgs = Arrays.stream(args).filter(a -> !a.isBlank()).toArray(String[]::new);
        Options options = new OptionsBuilder()
                .parent(new CommandLineOptions(jmhArgs))
                .include(StepPlannerBenchmark.class.getName() + ".*")
                .build();
        new Runner(options).run();
    }
}
