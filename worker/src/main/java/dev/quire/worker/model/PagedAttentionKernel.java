package dev.quire.worker.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Decode attention straight from the paged KV cache on CPU, in the native kernel built from
 * {@code worker/src/main/native/paged_attention.c} (see there for why). Sequences are split over
 * as many threads as the machine has cores.
 */
final class PagedAttentionKernel {
    private static final Logger LOG = LoggerFactory.getLogger(PagedAttentionKernel.class);
    /** The folder holding the built kernel; deploy/native-runtime.sh exports it as QUIRE_NATIVE_DIR. */
    static final String DIR_PROPERTY = "quire.native.dir";
    static final String LIBRARY = System.mapLibraryName("quire-attention");

    private final Function decode;
    private final int threads;
    private final ExecutorService pool;

    private PagedAttentionKernel(Function decode, int threads) {
        this.decode = decode;
        this.threads = threads;
        this.pool = threads > 1 ? Executors.newFixedThreadPool(threads - 1, r -> {
            Thread t = new Thread(r, "quire-attention");
            t.setDaemon(true);
            return t;
        }) : null;
    }

    /** The kernel, when it was built (system property {@value #DIR_PROPERTY} or QUIRE_NATIVE_DIR names its folder). */
    static Optional<PagedAttentionKernel> available() {
        return Loaded.INSTANCE;
    }

    /** Looked up on first use only (class initialisation is lazy and thread-safe). */
    private static final class Loaded {
        static final Optional<PagedAttentionKernel> INSTANCE = find();
    }

    private static Optional<PagedAttentionKernel> find() {
        String dir = System.getProperty(DIR_PROPERTY, System.getenv("QUIRE_NATIVE_DIR"));
        if (dir == null || dir.isBlank()) {
            return Optional.empty();
        }
        Path library = Path.of(dir).resolve(LIBRARY);
        if (!Files.isRegularFile(library)) {
            LOG.warn("No {} in {}; decode attention gathers the KV blocks instead", LIBRARY, dir);
            return Optional.empty();
        }
        try {
            Function decode = NativeLibrary.getInstance(library.toString()).getFunction("quire_decode_attention");
            return Optional.of(new PagedAttentionKernel(decode, Runtime.getRuntime().availableProcessors()));
        } catch (UnsatisfiedLinkError e) {
            LOG.warn("Cannot load {} ({}); decode attention gathers the KV blocks instead", library, e.toString());
            return Optional.empty();
        }
    }

    /**
     * One step's block tables and context lengths for a decode group, checked against the cache
     * once and then used by every layer: a wrong block id or length would make the kernel read
     * outside the cache, so it fails here instead.
     *
     * @param blockTables {@code [seqs x maxBlocks]} physical block ids, row-major
     * @param contextLens tokens each sequence attends over, its query's position included
     */
    record DecodeTables(int[] blockTables, int[] contextLens, int maxBlocks, int numBlocks, int blockSize) {

        static DecodeTables of(long[] blockTables, int[] contextLens, int numBlocks, int blockSize) {
            int seqs = contextLens.length;
            if (seqs == 0 ? blockTables.length != 0 : blockTables.length % seqs != 0) {
                throw new IllegalArgumentException(blockTables.length + " block table entries for " + seqs + " sequences");
            }
            int maxBlocks = seqs == 0 ? 0 : blockTables.length / seqs;
            int[] tables = new int[blockTables.length];
            for (int i = 0; i < tables.length; i++) {
                if (blockTables[i] < 0 || blockTables[i] >= numBlocks) {
                    throw new IllegalArgumentException("block id " + blockTables[i] + " outside the cache's " + numBlocks);
                }
                tables[i] = (int) blockTables[i];
            }
            long maxContext = (long) maxBlocks * blockSize;
            for (int len : contextLens) {
                if (len < 1 || len > maxContext) {
                    throw new IllegalArgumentException("context length " + len + " outside 1.." + maxContext);
                }
            }
            return new DecodeTables(tables, contextLens.clone(), maxBlocks, numBlocks, blockSize);
        }

        int seqs() {
            return contextLens.length;
        }
    }

    /**
     * Attention of one query token per sequence over its cached context.
     *
     * @param q         {@code [seqs, heads, headDim]} float32, scaled by 1/sqrt(headDim)
     * @param keyRows   one layer's key cache as {@link PagedKvCache#keyRows(int)}
     * @param valueRows the same layer's value cache
     * @return {@code [seqs, heads * headDim]}, owned by {@code q}'s manager
     */
    NDArray decode(NDArray q, NDArray keyRows, NDArray valueRows, int kvHeads, DecodeTables tables) {
        Shape shape = q.getShape();
        if (shape.dimension() != 3) {
            throw new IllegalArgumentException("q must be [seqs, heads, headDim], got " + shape);
        }
        int seqs = Math.toIntExact(shape.get(0));
        int heads = Math.toIntExact(shape.get(1));
        int headDim = Math.toIntExact(shape.get(2));
        Shape cacheShape = new Shape((long) kvHeads * tables.numBlocks(), (long) tables.blockSize() * headDim);
        if (q.getDataType() != DataType.FLOAT32 || keyRows.getDataType() != DataType.FLOAT32
                || valueRows.getDataType() != DataType.FLOAT32 || heads % kvHeads != 0
                || !keyRows.getShape().equals(cacheShape) || !valueRows.getShape().equals(cacheShape)
                || tables.seqs() != seqs) {
            throw new IllegalArgumentException("expected float32 q [" + tables.seqs() + ", heads, headDim] and caches "
                    + cacheShape + "; got q " + shape + ", caches " + keyRows.getShape() + " and " + valueRows.getShape());
        }
        NDArray out = q.getManager().create(new Shape(seqs, (long) heads * headDim), DataType.FLOAT32);
        if (seqs == 0) {
            return out;
        }
        Pointer qp = CpuArrays.address(q);
        Pointer kp = CpuArrays.address(keyRows);
        Pointer vp = CpuArrays.address(valueRows);
        Pointer op = CpuArrays.address(out);
        int parts = Math.min(threads, seqs);
        List<Future<?>> others = new ArrayList<>(parts);
        try {
            for (int p = 1; p < parts; p++) {
                int from = seqs * p / parts;
                int to = seqs * (p + 1) / parts;
                others.add(pool.submit(() -> run(qp, kp, vp, tables, op, from, to, heads, kvHeads, headDim)));
            }
            run(qp, kp, vp, tables, op, 0, seqs / parts, heads, kvHeads, headDim);
        } finally {
            // The other parts write through raw pointers into arrays the caller frees after this
            // returns or throws, so they must all have finished first, interrupt or not.
            awaitAll(others);
        }
        return out;
    }

    private static void awaitAll(List<Future<?>> tasks) {
        boolean interrupted = false;
        RuntimeException failure = null;
        for (Future<?> task : tasks) {
            while (true) {
                try {
                    task.get();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    failure = failure != null ? failure : new IllegalStateException("decode attention failed", e.getCause());
                    break;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure != null) {
            throw failure;
        }
    }

    private void run(Pointer q, Pointer keys, Pointer values, DecodeTables tables, Pointer out, int from, int to,
                     int heads, int kvHeads, int headDim) {
        if (from >= to) {
            return;
        }
        int status = decode.invokeInt(new Object[]{q, keys, values, tables.blockTables(), tables.contextLens(), out,
                from, to, heads, kvHeads, headDim, tables.numBlocks(), tables.blockSize(), tables.maxBlocks()});
        if (status != 0) {
            throw new OutOfMemoryError("decode attention could not allocate its scratch scores");
        }
    }
}
