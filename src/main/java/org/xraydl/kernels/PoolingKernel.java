package org.xraydl.kernels;

import org.xraydl.UserError;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;

/**
 * Which native kernel {@link FastPoolingLayer} runs: oneDNN's (the op's platform implementation),
 * libnd4j's own, or oneDNN's blocked-layout kernel called directly. Which one is faster depends on
 * the CPU. The oneDNN bundled with nd4j-native 1.0.0-M2.1 has a JIT pooling kernel for plain NCHW
 * memory only from {@code avx512_core} up; below that (AVX2 and older, or with {@code DNNL_MAX_CPU_ISA}
 * capped below AVX512_CORE) it falls back to its reference-style {@code simple_nchw} pooling.
 * Measured per call, batch 32, forward / backprop:
 * <ul>
 *   <li>3x3/2 max pool on [32,24,48,48]: libnd4j 2.2 / 7.5 ms, oneDNN avx512_core 0.35 / 1.5,
 *       oneDNN capped at AVX2 13.8 / 17.7;</li>
 *   <li>3x3/2 max pool on [16,64,64,64] (DenseNet-121 stem): libnd4j 5.1 / 18.4, oneDNN 1.4 / 4.3, capped 32 / 37;</li>
 *   <li>2x2/2 average pool on [32,48,24,24]: libnd4j 1.26 / 1.82, oneDNN 0.64 / 0.42, capped 2.4 / 1.2.</li>
 * </ul>
 * So with AVX-512 oneDNN is 2-6x faster than libnd4j's kernel (and DL4J's own, oneDNN, pooling layers
 * made the compact DenseNet training step ~7 % faster than this layer with libnd4j's kernel); without
 * it oneDNN's max pool is ~6x slower forward and 2-2.4x slower backprop (an earlier session without
 * AVX-512 measured the step ~7 % faster with libnd4j's kernel).
 *
 * <p>Without AVX-512 there is a third way, {@link #DIRECT}: oneDNN's {@code jit:avx2} pooling, which works on the
 * blocked {@code nChw8c} layout, called directly ({@link DirectPooling}: reorder NCHW to nChw8c, pool, reorder back).
 * Measured per call on an AMD EPYC (family 25, AVX2 only), batch 32, while other work shared the 2 cores, so on
 * one thread ({@code OMP_NUM_THREADS=1}, the fastest of 25 calls; one thread's CPU time agreed), forward (training
 * mode) / backprop, libnd4j vs direct with its reorders:
 * <ul>
 *   <li>3x3/2 max pool, padding 1, on [32,24,48,48] (the compact DenseNet's stem at 96 px): 3.49 / 13.89 ms vs
 *       4.86 / 4.91 ms (the training forward pass stores oneDNN's workspace for the backprop; in inference mode
 *       2.02 ms);</li>
 *   <li>2x2/2 average pool on [32,24,24,24]: 0.93 / 1.29 vs 0.30 / 0.45 ms; on [32,36,12,12]: 0.35 / 0.51 vs
 *       0.22 / 0.23 ms (the compact DenseNet's two transitions at 96 px).</li>
 * </ul>
 * A max pool's training forward pass alone is slower there, its forward pass and backprop together take 0.56x
 * libnd4j's time, the average pools 0.34-0.52x.
 *
 * <p>{@link #forProcess()} decides once per process: {@code -D}{@value #PROPERTY}{@code =onednn|libnd4j|direct}
 * if given, else ({@code auto}, the default) oneDNN when the CPU has avx512_core and the environment
 * does not cap oneDNN below it, otherwise the direct kernels where {@code -D}{@value DirectPooling#PROPERTY} is not
 * {@code false} and oneDNN's Java bindings load, else libnd4j's kernel. All give the same forward max pool and the
 * same gradients up to float rounding (overlapping windows summed in another order).
 */
public enum PoolingKernel {
    ONEDNN("onednn", "oneDNN kernels"),
    LIBND4J("libnd4j", "libnd4j kernels"),
    /** oneDNN's nChw8c pooling called directly ({@link DirectPooling}); libnd4j's kernel for what it declines. */
    DIRECT("direct", "oneDNN nChw8c kernels (direct)");

    /** {@code auto} (default), {@code onednn}, {@code libnd4j} or {@code direct}. */
    public static final String PROPERTY = "xraydl.poolingKernel";
    /** oneDNN's {@code avx512_core}: AVX-512 Foundation with the BW, VL and DQ extensions (Linux /proc/cpuinfo names). */
    static final List<String> AVX512_CORE_FLAGS = List.of("avx512f", "avx512bw", "avx512vl", "avx512dq");
    /**
     * Values of {@code DNNL_MAX_CPU_ISA} / {@code ONEDNN_MAX_CPU_ISA} that leave AVX512_CORE available:
     * AVX512_CORE and the ISAs above it in oneDNN's partial order (including the AVX10.1 names and their
     * AVX512_* aliases), plus "no restriction" ({@code ALL} in oneDNN 1.x/2.x, {@code DEFAULT} in 3.x).
     * Anything else (SSE41, AVX, AVX2, AVX2_VNNI, AVX2_VNNI_2, AVX512_MIC, AVX512_MIC_4OPS, or a name
     * this list does not know) counts as a cap.
     */
    static final Set<String> NOT_BELOW_AVX512_CORE = Set.of("ALL", "DEFAULT",
            "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16",
            "AVX512_CORE_FP16", "AVX10_1_512",
            "AVX512_CORE_AMX", "AVX10_1_512_AMX",
            "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX_FP16");
    static final Path CPUINFO = Path.of("/proc/cpuinfo");

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(PoolingKernel.class);
    private static volatile PoolingKernel processWide;

    private final String id;
    private final String label;

    PoolingKernel(String id, String label) {
        this.id = id;
        this.label = label;
    }

    /** The property value that selects it ({@code onednn}, {@code libnd4j}). */
    public String id() {
        return id;
    }

    /** For the layer report, e.g. {@code "oneDNN kernels"}. */
    public String label() {
        return label;
    }

    /** Whether the op context lets libnd4j run the op's oneDNN platform implementation ({@link #DIRECT}'s fallback: no). */
    boolean allowsHelpers() {
        return this == ONEDNN;
    }

    /**
     * The decision for this process, made on first use: {@link #choose} with this machine's
     * /proc/cpuinfo flags, its oneDNN ISA cap, {@code -D}{@value #PROPERTY} and whether {@link DirectPooling}
     * can run ({@code -D}{@value DirectPooling#PROPERTY} not false, oneDNN's Java bindings load).
     *
     * @throws UserError if either property has a value it does not take (not cached)
     */
    public static PoolingKernel forProcess() {
        PoolingKernel k = processWide;
        if (k == null) {
            synchronized (PoolingKernel.class) {
                k = processWide;
                if (k == null) {
                    String property = System.getProperty(PROPERTY);
                    boolean direct = DirectPooling.usable();
                    k = choose(cpuFlags(CPUINFO), isaCap(System.getenv("DNNL_MAX_CPU_ISA"), System.getenv("ONEDNN_MAX_CPU_ISA")),
                            property, direct);
                    if (parseProperty(property) == DIRECT && k != DIRECT) {
                        log.warn("-D{}=direct, but {}: pooling runs libnd4j's kernel", PROPERTY, DirectPooling.enabled()
                                ? "oneDNN's Java bindings do not load here" : "-D" + DirectPooling.PROPERTY + "=false");
                    }
                    processWide = k;
                }
            }
        }
        return k;
    }

    /** {@link #choose(String, String, String, boolean)} where {@link #DIRECT} cannot run. */
    public static PoolingKernel choose(String cpuFlags, String envIsaCap, String property) {
        return choose(cpuFlags, envIsaCap, property, false);
    }

    /**
     * The kernel for these inputs.
     *
     * @param cpuFlags   the "flags" line of /proc/cpuinfo (space-separated names), or null when unknown
     * @param envIsaCap  oneDNN's ISA cap from the environment ({@link #isaCap}), or null/blank for none
     * @param property   {@code -D}{@value #PROPERTY}: null/blank or {@code auto}, {@code onednn}, {@code libnd4j}, {@code direct}
     * @param directUsable whether {@link DirectPooling} can run here: where it cannot, {@code direct} and auto's
     *                   choice of it become {@link #LIBND4J}
     */
    public static PoolingKernel choose(String cpuFlags, String envIsaCap, String property, boolean directUsable) {
        PoolingKernel forced = parseProperty(property);
        if (forced == DIRECT && !directUsable) {
            return LIBND4J;
        }
        if (forced != null) {
            return forced;
        }
        // Unknown flags (no /proc/cpuinfo: macOS, Windows; or a non-x86 CPU) count as no AVX-512, although
        // DL4J's own layer would run oneDNN there. A wrong guess costs about the same either way (~7 % of a
        // training step), so the likelier CPU decides: most laptops and desktops have no usable AVX-512 (Intel
        // client CPUs from Alder Lake on, AMD before Zen 4, most Intel Macs; Apple silicon is not x86 at all).
        // Without AVX-512: the direct kernels where they can run (the bindings ship for linux-x86_64 only),
        // else libnd4j's kernel, what this layer ran before the choice existed. Results are the same either
        // way up to float rounding.
        if (hasAvx512Core(cpuFlags) && !capsBelowAvx512Core(envIsaCap)) {
            return ONEDNN;
        }
        return directUsable ? DIRECT : LIBND4J;
    }

    /**
     * The property's kernel, or null for auto (unset, blank or {@code auto}; case and surrounding spaces ignored).
     *
     * @throws UserError for any other value, in one line naming the property and the allowed values
     */
    public static PoolingKernel parseProperty(String value) {
        if (value == null || value.isBlank()) {
            return null;
        }
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (v.equals("auto")) {
            return null;
        }
        for (PoolingKernel k : values()) {
            if (k.id.equals(v)) {
                return k;
            }
        }
        throw new UserError("-D" + PROPERTY + "=" + value + " is not a pooling kernel: give auto (the default: "
                + "oneDNN on CPUs with AVX-512, oneDNN's nChw8c kernels called directly otherwise), onednn, libnd4j or direct");
    }

    /** Whether all of avx512f, avx512bw, avx512vl and avx512dq are among the flags (whole names). */
    static boolean hasAvx512Core(String cpuFlags) {
        if (cpuFlags == null) {
            return false;
        }
        Set<String> flags = Set.copyOf(Arrays.asList(cpuFlags.trim().toLowerCase(Locale.ROOT).split("\\s+")));
        return flags.containsAll(AVX512_CORE_FLAGS);
    }

    /** Whether an ISA cap keeps oneDNN below AVX512_CORE (null or blank: no cap). */
    static boolean capsBelowAvx512Core(String isaCap) {
        return isaCap != null && !isaCap.isBlank()
                && !NOT_BELOW_AVX512_CORE.contains(isaCap.trim().toUpperCase(Locale.ROOT));
    }

    /**
     * The cap that counts of {@code DNNL_MAX_CPU_ISA} and {@code ONEDNN_MAX_CPU_ISA}: one that caps below
     * AVX512_CORE if either does, else whichever is set, else null. oneDNN 3.x reads ONEDNN_ first; the
     * oneDNN in nd4j-native 1.0.0-M2.1 reads only DNNL_ (its library has no ONEDNN_ name), so a cap in
     * either one is taken as real.
     */
    static String isaCap(String dnnlMaxCpuIsa, String onednnMaxCpuIsa) {
        for (String v : new String[]{dnnlMaxCpuIsa, onednnMaxCpuIsa}) {
            if (capsBelowAvx512Core(v)) {
                return v;
            }
        }
        for (String v : new String[]{onednnMaxCpuIsa, dnnlMaxCpuIsa}) {
            if (v != null && !v.isBlank()) {
                return v;
            }
        }
        return null;
    }

    /** The first "flags" line's value in a /proc/cpuinfo file, or null if the file is unreadable or has none. */
    static String cpuFlags(Path cpuinfo) {
        try (Stream<String> lines = Files.lines(cpuinfo, StandardCharsets.ISO_8859_1)) {
            return lines.filter(l -> l.indexOf(':') > 0 && l.substring(0, l.indexOf(':')).trim().equals("flags"))
                    .map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .findFirst().orElse(null);
        } catch (IOException | UncheckedIOException | SecurityException e) {
            return null;
        }
    }
}
