package org.xraydl.kernels;

import org.junit.jupiter.api.Test;
import org.xraydl.UserError;

import java.io.File;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@link OpenMpSpin}: who decides the spin count, property parsing, and what libgomp itself reports in a fresh JVM. */
class OpenMpSpinTest {

    @Test
    void theUsersEnvironmentWins() {
        OpenMpSpin.Setting s = OpenMpSpin.decide(Map.of("GOMP_SPINCOUNT", "12345"), "777");
        assertEquals("12345", s.spinCount());
        assertTrue(s.source().contains("GOMP_SPINCOUNT from the environment"), s.source());
        OpenMpSpin.Setting p = OpenMpSpin.decide(Map.of("OMP_WAIT_POLICY", "PASSIVE"), null);
        assertTrue(p.spinCount().contains("OMP_WAIT_POLICY=PASSIVE"), p.spinCount());
    }

    @Test
    void thePropertyCanKeepLibgompsDefault() {
        assertEquals("-Dxraydl.ompSpinCount=libgomp", OpenMpSpin.decide(Map.of(), " LIBGOMP ").source());
        assertNull(OpenMpSpin.decide(Map.of(), null), "nothing set: the pipeline sets its count");
        assertNull(OpenMpSpin.decide(Map.of("PATH", "/bin"), "5000"), "a count in the property: the pipeline sets it");
    }

    @Test
    void propertyValues() {
        assertEquals(Optional.empty(), OpenMpSpin.parse(null));
        assertEquals(Optional.empty(), OpenMpSpin.parse(" "));
        assertEquals(Optional.empty(), OpenMpSpin.parse("libgomp"));
        assertEquals(Optional.of(0L), OpenMpSpin.parse("0"));
        assertEquals(Optional.of(30000L), OpenMpSpin.parse(" 30000 "));
        for (String bad : new String[]{"-1", "3e4", "fast", "1.5"}) {
            UserError e = assertThrows(UserError.class, () -> OpenMpSpin.parse(bad), bad);
            assertTrue(e.getMessage().contains("-Dxraydl.ompSpinCount=" + bad) && e.getMessage().contains("whole number"),
                    e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }

    /** libgomp prints the spin count it uses with OMP_DISPLAY_ENV=VERBOSE when it loads (Linux only). */
    @Test
    void libgompRunsWithTheCountSetBeforeNd4jLoads() throws Exception {
        assumeTrue(new File("/proc/self/maps").exists(), "Linux only");
        assertEquals("30000", libgompSpinCount(List.of(), Map.of()), "the pipeline's default");
        assertEquals("4321", libgompSpinCount(List.of("-Dxraydl.ompSpinCount=4321"), Map.of()));
        assertEquals("300000", libgompSpinCount(List.of("-Dxraydl.ompSpinCount=libgomp"), Map.of()), "libgomp's own default");
        assertEquals("2222", libgompSpinCount(List.of(), Map.of("GOMP_SPINCOUNT", "2222")), "the user's environment");
    }

    /** Runs {@link OpenMpSpinProbe} in a fresh JVM and returns the GOMP_SPINCOUNT libgomp reports. */
    private static String libgompSpinCount(List<String> jvmOptions, Map<String, String> env) throws Exception {
        Map<String, String> all = new HashMap<>(env);
        all.put("OMP_DISPLAY_ENV", "VERBOSE");
        String out = ProbeJvm.run(OpenMpSpinProbe.class, jvmOptions, List.of("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"), all);
        assertTrue(out.contains("sum: 4.0"), out);
        return out.lines().filter(l -> l.trim().startsWith("GOMP_SPINCOUNT = '")).findFirst()
                .map(l -> l.trim().substring("GOMP_SPINCOUNT = '".length()).replace("'", ""))
                .orElseThrow(() -> new AssertionError("libgomp printed no GOMP_SPINCOUNT:\n" + out));
    }
}
