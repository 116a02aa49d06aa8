package org.xraydl.kernels;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.cpu.nativecpu.DirectShapeInfoProvider;
import org.xraydl.UserError;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShapeInfoCacheTest {

    @AfterEach
    void clear() {
        System.clearProperty(ShapeInfoCache.PROPERTY);
        System.clearProperty(ShapeInfoCache.ND4J_KEY);
    }

    /** ND4J's shape-information layout, written out by hand: rank, shape, stride, extras, ews, order. */
    private static void assertLayout(long[] info, long[] shape, long[] stride, long ews, char order) {
        int r = shape.length;
        assertEquals(r, info[0], "rank");
        for (int i = 0; i < r; i++) {
            assertEquals(shape[i], info[1 + i], "shape[" + i + "]");
            assertEquals(stride[i], info[1 + r + i], "stride[" + i + "]");
        }
        assertEquals(ews, info[2 * r + 2], "ews");
        assertEquals(order, (char) info[2 * r + 3], "order");
    }

    @Test
    void sameShapeInformationAsNd4jsProviderAndOnePairPerShape() {
        ShapeInfoCache cache = new ShapeInfoCache(16);
        DirectShapeInfoProvider nd4j = new DirectShapeInfoProvider();
        long[][][] cases = {
                {{32, 24, 48, 48}, {55296, 2304, 48, 1}},
                {{32, 24, 48, 48}, {1, 32, 768, 16}},
                {{768, 2304}, {2304, 1}},
                {{5, 1}, {1, 1}},
        };
        for (long[][] c : cases) {
            for (DataType type : List.of(DataType.FLOAT, DataType.DOUBLE)) {
                char order = c[1][c[1].length - 1] == 1 ? 'c' : 'f';
                Pair<DataBuffer, long[]> got = cache.createShapeInformation(c[0], c[1], 1, order, type, false);
                Pair<DataBuffer, long[]> expected = nd4j.createShapeInformation(c[0], c[1], 1, order, type, false);
                assertArrayEquals(expected.getSecond(), got.getSecond(), "as ND4J's own provider makes it");
                assertArrayEquals(got.getSecond(), got.getFirst().asLong(), "the Java copy is the native buffer's content");
                assertLayout(got.getSecond(), c[0], c[1], 1, order);
                assertSame(got, cache.createShapeInformation(c[0].clone(), c[1].clone(), 1, order, type, false),
                        "an equal request gets the cached pair");
            }
        }
        assertEquals(cases.length * 2, cache.size());
        // every part of the key counts
        long[] shape = {4, 3};
        long[] stride = {3, 1};
        Pair<DataBuffer, long[]> base = cache.createShapeInformation(shape, stride, 1, 'c', DataType.FLOAT, false);
        assertNotSame(base, cache.createShapeInformation(shape, stride, 0, 'c', DataType.FLOAT, false), "ews");
        assertNotSame(base, cache.createShapeInformation(shape, stride, 1, 'c', DataType.HALF, false), "type");
        assertNotSame(base, cache.createShapeInformation(shape, new long[]{1, 4}, 1, 'f', DataType.FLOAT, false), "stride, order");
        // the caller reusing its arrays does not change what is cached
        shape[0] = 9;
        Pair<DataBuffer, long[]> again = cache.createShapeInformation(new long[]{4, 3}, new long[]{3, 1}, 1, 'c', DataType.FLOAT, false);
        assertSame(base, again);
        assertLayout(again.getSecond(), new long[]{4, 3}, new long[]{3, 1}, 1, 'c');
    }

    @Test
    void beyondTheCapShapesAreMadeUncached() {
        ShapeInfoCache cache = new ShapeInfoCache(2);
        for (long n = 1; n <= 4; n++) {
            long[] shape = {n, 2};
            long[] stride = {2, 1};
            Pair<DataBuffer, long[]> p = cache.createShapeInformation(shape, stride, 1, 'c', DataType.FLOAT, false);
            assertLayout(p.getSecond(), shape, stride, 1, 'c');
        }
        assertEquals(2, cache.size());
        Pair<DataBuffer, long[]> late = cache.createShapeInformation(new long[]{4, 2}, new long[]{2, 1}, 1, 'c', DataType.FLOAT, false);
        assertNotSame(late, cache.createShapeInformation(new long[]{4, 2}, new long[]{2, 1}, 1, 'c', DataType.FLOAT, false));
    }

    @Test
    void selectionRules() {
        assertEquals(ShapeInfoCache.class.getName(), ShapeInfoCache.applyBeforeNd4j(), "the default");
        assertEquals(ShapeInfoCache.class.getName(), System.getProperty(ShapeInfoCache.ND4J_KEY));
        clear();
        System.setProperty(ShapeInfoCache.PROPERTY, "false");
        assertEquals("nd4j default", ShapeInfoCache.applyBeforeNd4j());
        assertEquals(null, System.getProperty(ShapeInfoCache.ND4J_KEY));
        clear();
        System.setProperty(ShapeInfoCache.ND4J_KEY, "org.example.Mine");
        assertEquals("org.example.Mine", ShapeInfoCache.applyBeforeNd4j(), "the user's own provider wins");
        clear();
        System.setProperty(ShapeInfoCache.PROPERTY, "yes");
        UserError e = assertThrows(UserError.class, ShapeInfoCache::applyBeforeNd4j);
        assertTrue(e.getMessage().contains("xraydl.shapeInfoCache"), e.getMessage());
    }

    /** In fresh JVMs: ND4J runs the provider selected before it initialises, and training is bit for bit the same. */
    @Test
    void nd4jRunsItAndTrainingIsUnchanged() throws Exception {
        List<String> on = probe(List.of());
        List<String> off = probe(List.of("-D" + ShapeInfoCache.PROPERTY + "=false"));
        assertEquals("provider: " + ShapeInfoCache.class.getName(), on.get(0));
        assertEquals("provider: " + DirectShapeInfoProvider.class.getName(), off.get(0));
        assertTrue(on.get(1).startsWith("params: "), on.get(1));
        assertEquals(off.get(1), on.get(1), "the same parameters after three training steps");
    }

    private static List<String> probe(List<String> jvmOptions) throws Exception {
        String out = ProbeJvm.run(ShapeInfoCacheProbe.class, jvmOptions, List.of(), Map.of());
        return out.lines().filter(l -> l.startsWith("provider: ") || l.startsWith("params: ")).toList();
    }
}
