package org.xraydl.cli;

import org.junit.jupiter.api.Test;
import org.xraydl.UserError;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MemoryGuardTest {
    private final AtomicLong rss = new AtomicLong();
    private final AtomicInteger collections = new AtomicInteger();
    private final List<String> stops = new ArrayList<>();
    private final MemoryGuard guard = new MemoryGuard(1_000, rss::get, collections::incrementAndGet, stops::add);

    @Test
    void belowTheLimitNothingHappens() {
        rss.set(1_000);
        for (int i = 0; i < 5; i++) {
            guard.check();
        }
        assertEquals(0, collections.get());
        assertTrue(stops.isEmpty());
    }

    @Test
    void aboveOnceCollectsAndAStoppedRiseIsForgiven() {
        rss.set(1_001);
        guard.check();
        assertEquals(1, collections.get());
        assertTrue(stops.isEmpty());
        rss.set(900); // the collection freed native buffers
        guard.check();
        rss.set(1_500); // a later rise gets its own collection first
        guard.check();
        assertEquals(2, collections.get());
        assertTrue(stops.isEmpty());
    }

    @Test
    void stillAboveAfterTheCollectionStopsWithTheLimitAndTheFix() {
        rss.set(5L << 30);
        guard.check();
        guard.check();
        assertEquals(1, collections.get());
        assertEquals(1, stops.size());
        String m = stops.get(0);
        assertTrue(m.contains("above its limit of 1000 bytes") || m.contains("limit of 1000"), m);
        assertTrue(m.contains("batchSize") && m.contains("--resume") && m.contains(MemoryGuard.LIMIT_PROPERTY), m);
        assertEquals(1, m.lines().count());
    }

    @Test
    void limitDefaultsToNinetyPercentAndParsesSizes() {
        assertEquals(9_000, MemoryGuard.limitFromProperty(null, 10_000));
        assertEquals(9_000, MemoryGuard.limitFromProperty(" ", 10_000));
        assertEquals(20L << 30, MemoryGuard.limitFromProperty("20g", 10_000));
        assertEquals(512L << 20, MemoryGuard.limitFromProperty("512m", 10_000));
        assertEquals(0, MemoryGuard.limitFromProperty("0", 10_000));
        UserError e = assertThrows(UserError.class, () -> MemoryGuard.limitFromProperty("lots", 10_000));
        assertTrue(e.getMessage().contains(MemoryGuard.LIMIT_PROPERTY) && e.getMessage().contains("20g"), e.getMessage());
    }

    @Test
    void aBadLimitPropertyIsOneLineAndExitStatusTwo() {
        String before = System.getProperty(MemoryGuard.LIMIT_PROPERTY);
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setProperty(MemoryGuard.LIMIT_PROPERTY, "lots");
        System.setErr(new java.io.PrintStream(captured, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            assertEquals(2, Main.run("--version"));
        } finally {
            System.setErr(err);
            if (before == null) {
                System.clearProperty(MemoryGuard.LIMIT_PROPERTY);
            } else {
                System.setProperty(MemoryGuard.LIMIT_PROPERTY, before);
            }
        }
        String out = captured.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(1, out.lines().count(), out);
        assertTrue(out.startsWith("error: -D" + MemoryGuard.LIMIT_PROPERTY + "=lots is not a size"), out);
    }
}
