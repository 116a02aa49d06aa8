package org.xraydl.kernels;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.xraydl.UserError;
import org.xraydl.cli.Main;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.xraydl.kernels.PoolingKernel.DIRECT;
import static org.xraydl.kernels.PoolingKernel.LIBND4J;
import static org.xraydl.kernels.PoolingKernel.ONEDNN;

/** {@link PoolingKernel}'s decision on hand-made CPU flags, oneDNN ISA caps and property values. */
class PoolingKernelTest {
    /** A Skylake-SP Xeon's flags (AVX-512 F, CD, BW, DQ, VL). */
    private static final String SKYLAKE_SP = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx "
            + "fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid "
            + "tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c "
            + "rdrand hypervisor lahf_lm abm 3dnowprefetch invpcid_single pti fsgsbase tsc_adjust bmi1 hle avx2 smep "
            + "bmi2 erms invpcid rtm mpx avx512f avx512dq rdseed adx smap clflushopt clwb avx512cd avx512bw avx512vl "
            + "xsaveopt xsavec xgetbv1 xsaves arat pku ospke";
    /** An AVX2-only desktop (Zen 2 / Haswell class). */
    private static final String AVX2_ONLY = "fpu vme de pse tsc msr pae sse sse2 ssse3 fma sse4_1 sse4_2 popcnt aes xsave avx "
            + "f16c rdrand bmi1 avx2 bmi2 adx sha_ni";

    @Test
    void allFourAvx512CoreFlagsChooseOneDnn() {
        assertEquals(ONEDNN, PoolingKernel.choose(SKYLAKE_SP, null, null));
        assertEquals(ONEDNN, PoolingKernel.choose("avx512vl avx512dq avx512bw avx512f", "", "auto"));
        assertEquals(ONEDNN, PoolingKernel.choose("  avx512f\tavx512bw  avx512vl avx512dq\n", "  ", " "));
    }

    @ParameterizedTest
    @ValueSource(strings = {"avx512f", "avx512bw", "avx512vl", "avx512dq"})
    void anyMissingFlagChoosesLibnd4j(String missing) {
        String flags = (" " + SKYLAKE_SP + " ").replace(" " + missing + " ", " ");
        assertEquals(LIBND4J, PoolingKernel.choose(flags, null, null), "without " + missing);
    }

    @Test
    void unknownOrNonAvx512CpusChooseLibnd4j() {
        assertEquals(LIBND4J, PoolingKernel.choose(AVX2_ONLY, null, null));
        assertEquals(LIBND4J, PoolingKernel.choose(null, null, null), "no /proc/cpuinfo (macOS, Windows)");
        assertEquals(LIBND4J, PoolingKernel.choose("", null, null));
        // whole names only: prefixes and longer names do not count
        assertEquals(LIBND4J, PoolingKernel.choose("avx512 avx512bw avx512vl avx512dq avx512fx", null, null));
        // Knights Landing (AVX512_MIC): F and CD but no BW/VL/DQ
        assertEquals(LIBND4J, PoolingKernel.choose("avx2 avx512f avx512cd avx512er avx512pf", null, null));
    }

    @ParameterizedTest
    @ValueSource(strings = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_MIC", "AVX512_MIC_4OPS",
            "avx2", " AVX2 ", "AVX512", "NOT_AN_ISA"})
    void aCapBelowAvx512CoreChoosesLibnd4j(String cap) {
        assertEquals(LIBND4J, PoolingKernel.choose(SKYLAKE_SP, cap, null), "cap " + cap);
        assertEquals(LIBND4J, PoolingKernel.choose(SKYLAKE_SP, cap, "auto"), "cap " + cap);
    }

    @ParameterizedTest
    @ValueSource(strings = {"AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512",
            "AVX512_CORE_AMX", "AVX10_1_512_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX_FP16", "ALL", "DEFAULT",
            "avx512_core", ""})
    void aCapAtOrAboveAvx512CoreKeepsOneDnn(String cap) {
        assertEquals(ONEDNN, PoolingKernel.choose(SKYLAKE_SP, cap, null), "cap " + cap);
        // a cap never makes a CPU without AVX-512 choose oneDNN
        assertEquals(LIBND4J, PoolingKernel.choose(AVX2_ONLY, cap, null), "cap " + cap);
    }

    @Test
    void theCapThatCountsIsTheLowerOfTheTwoVariables() {
        assertEquals("AVX2", PoolingKernel.isaCap("AVX2", null));
        assertEquals("AVX2", PoolingKernel.isaCap(null, "AVX2"));
        assertEquals("AVX2", PoolingKernel.isaCap("ALL", "AVX2"));
        assertEquals("AVX2", PoolingKernel.isaCap("AVX2", "AVX512_CORE_AMX"));
        assertEquals("AVX512_CORE", PoolingKernel.isaCap("AVX512_CORE", null));
        assertEquals("AVX512_CORE_AMX", PoolingKernel.isaCap(null, "AVX512_CORE_AMX"));
        assertNull(PoolingKernel.isaCap(null, null));
        assertNull(PoolingKernel.isaCap("", " "));
        assertEquals(LIBND4J, PoolingKernel.choose(SKYLAKE_SP, PoolingKernel.isaCap("AVX512_CORE", "AVX2"), null));
        assertEquals(ONEDNN, PoolingKernel.choose(SKYLAKE_SP, PoolingKernel.isaCap("AVX512_CORE", "DEFAULT"), null));
    }

    @Test
    void thePropertyOverridesTheMachineBothWays() {
        assertEquals(ONEDNN, PoolingKernel.choose(AVX2_ONLY, null, "onednn"));
        assertEquals(ONEDNN, PoolingKernel.choose(null, "AVX2", "onednn"));
        assertEquals(ONEDNN, PoolingKernel.choose(null, null, " OneDNN "));
        assertEquals(LIBND4J, PoolingKernel.choose(SKYLAKE_SP, null, "libnd4j"));
        assertEquals(LIBND4J, PoolingKernel.choose(SKYLAKE_SP, "AVX512_CORE", "LIBND4J"));
        assertEquals(ONEDNN, PoolingKernel.choose(SKYLAKE_SP, null, "AUTO"));
    }

    @Test
    void withoutAvx512TheDirectKernelsWhereTheyCanRun() {
        assertEquals(DIRECT, PoolingKernel.choose(AVX2_ONLY, null, null, true));
        assertEquals(DIRECT, PoolingKernel.choose(null, null, "auto", true), "unknown CPU");
        assertEquals(DIRECT, PoolingKernel.choose(SKYLAKE_SP, "AVX2", null, true), "capped below AVX512_CORE");
        assertEquals(ONEDNN, PoolingKernel.choose(SKYLAKE_SP, null, null, true), "AVX-512 keeps the op's oneDNN kernel");
        assertEquals(LIBND4J, PoolingKernel.choose(AVX2_ONLY, null, null, false), "switched off or no bindings");
        assertEquals(LIBND4J, PoolingKernel.choose(AVX2_ONLY, null, null), "the three-argument form: not usable");
        // forced either way: libnd4j means libnd4j's own kernel; direct only where it can run
        assertEquals(LIBND4J, PoolingKernel.choose(AVX2_ONLY, null, "libnd4j", true));
        assertEquals(DIRECT, PoolingKernel.choose(SKYLAKE_SP, null, " Direct ", true));
        assertEquals(LIBND4J, PoolingKernel.choose(SKYLAKE_SP, null, "direct", false));
        assertEquals(ONEDNN, PoolingKernel.choose(AVX2_ONLY, null, "onednn", true));
        assertFalse(DIRECT.allowsHelpers(), "what the direct kernels decline runs libnd4j's kernel, not the op's oneDNN one");
    }

    @ParameterizedTest
    @ValueSource(strings = {"mkl", "oneDNN-jit", "nd4j", "true", "libnd4j,onednn"})
    void aBadPropertyIsOneLineNamingThePropertyAndTheValues(String value) {
        UserError e = assertThrows(UserError.class, () -> PoolingKernel.choose(SKYLAKE_SP, null, value));
        String m = e.getMessage();
        assertEquals(1, m.lines().count(), m);
        assertTrue(m.startsWith("-Dxraydl.poolingKernel=" + value + " "), m);
        assertTrue(m.contains("auto") && m.contains("onednn") && m.contains("libnd4j") && m.contains("direct"), m);
    }

    @Test
    void aBadPropertyStopsTheCliWithOneLineAndStatusTwo() {
        String before = System.getProperty(PoolingKernel.PROPERTY);
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setProperty(PoolingKernel.PROPERTY, "mkl");
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            assertEquals(2, Main.run("--version"));
        } finally {
            System.setErr(err);
            if (before == null) {
                System.clearProperty(PoolingKernel.PROPERTY);
            } else {
                System.setProperty(PoolingKernel.PROPERTY, before);
            }
        }
        String out = captured.toString(StandardCharsets.UTF_8);
        assertEquals(1, out.lines().count(), out);
        assertTrue(out.startsWith("error: -Dxraydl.poolingKernel=mkl is not a pooling kernel"), out);
    }

    @Test
    void readsTheFirstFlagsLineOfCpuinfo(@TempDir Path dir) throws IOException {
        Path cpuinfo = dir.resolve("cpuinfo");
        Files.writeString(cpuinfo, "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 avx512f avx512bw\n"
                + "vmx flags\t: vnmi\nbugs\t\t: spectre_v1\n\nprocessor\t: 1\nflags\t\t: fpu\n");
        assertEquals("fpu avx2 avx512f avx512bw", PoolingKernel.cpuFlags(cpuinfo));
        Files.writeString(cpuinfo, "processor\t: 0\nFeatures\t: fp asimd evtstrm aes\nCPU implementer\t: 0x41\n"); // arm64
        assertNull(PoolingKernel.cpuFlags(cpuinfo));
        assertNull(PoolingKernel.cpuFlags(dir.resolve("absent")));
    }

    /** The process-wide decision is this machine's, checked against a plain reading of /proc/cpuinfo. */
    @Test
    void theProcessDecisionFollowsThisMachine() throws IOException {
        assumeTrue(System.getProperty(PoolingKernel.PROPERTY) == null, "no override");
        String dnnl = System.getenv("DNNL_MAX_CPU_ISA");
        String onednn = System.getenv("ONEDNN_MAX_CPU_ISA");
        assumeTrue(dnnl == null && onednn == null, "no oneDNN ISA cap in the environment");
        Path cpuinfo = Path.of("/proc/cpuinfo");
        boolean avx512Core = false;
        if (Files.isReadable(cpuinfo)) {
            String text = Files.readString(cpuinfo, StandardCharsets.ISO_8859_1);
            String firstFlags = text.lines().filter(l -> l.startsWith("flags")).findFirst().orElse("") + " ";
            avx512Core = firstFlags.contains(" avx512f ") && firstFlags.contains(" avx512bw ")
                    && firstFlags.contains(" avx512vl ") && firstFlags.contains(" avx512dq ");
        }
        assertEquals(avx512Core ? ONEDNN : DirectPooling.usable() ? DIRECT : LIBND4J, PoolingKernel.forProcess());
    }
}
