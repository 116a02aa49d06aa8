package org.xraydl.kernels;

import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.cpu.nativecpu.DirectShapeInfoProvider;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.UserError;

import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;

/**
 * ND4J's CPU shape-information provider with a cache for the overload every new INDArray uses.
 *
 * <p>Why: in ND4J 1.0.0-M2.1 each array a DL4J layer creates (activations, gradients, views, reshapes) asks
 * {@code createShapeInformation(shape, stride, ews, order, dataType, empty)}. ND4J's {@link DirectShapeInfoProvider}
 * caches only its other overload, so every call goes to native code with two fresh JavaCPP {@code LongPointer}s
 * and wraps the (natively cached, constant) result in a new {@code LongBuffer} that ND4J's deallocator service
 * tracks with a weak reference. That is thousands of tracked pointers and references a training step; each
 * survives one young collection. Compact DenseNet, 96 px, batch 32, 150 steps: G1 pause time 1.4-2.5 s
 * without this cache, 0.22-0.25 s with it; resident memory flat instead of +1 GB (docs/benchmark/README.md).
 *
 * <p>What is cached is what ND4J already shares: the native shape buffer is a constant of libnd4j's
 * {@code ConstantShapeHelper}, the {@code DataBuffer} is marked constant (ND4J refuses to close it), and
 * ND4J's own cache (the other overload) hands out the same pair to every caller. At most
 * {@link #MAX_ENTRIES} shapes are kept (a network uses a few hundred); beyond that calls go to ND4J's code
 * uncached, as ND4J's own cache does.
 *
 * <p>Installed through ND4J's own configuration key ({@code shapeinfoprovider}, read once when ND4J
 * initialises) by {@link #applyBeforeNd4j()}, first thing in {@code Main}. A user's own
 * {@code -Dshapeinfoprovider=...} wins; {@code -Dxraydl.shapeInfoCache=false} keeps ND4J's provider.
 * Notebooks and Spark executors, which do not start through {@code Main}, run ND4J's provider.
 */
public class ShapeInfoCache extends DirectShapeInfoProvider {
    /** ND4J's configuration key for the shape-information provider class. */
    public static final String ND4J_KEY = "shapeinfoprovider";
    public static final String PROPERTY = "xraydl.shapeInfoCache";
    static final int MAX_ENTRIES = 4096;

    private final ConcurrentHashMap<Key, Pair<DataBuffer, long[]>> cache = new ConcurrentHashMap<>();
    private final int maxEntries;

    /** Used by ND4J (by class name). */
    public ShapeInfoCache() {
        this(MAX_ENTRIES);
    }

    ShapeInfoCache(int maxEntries) {
        this.maxEntries = maxEntries;
    }

    @Override
    public Pair<DataBuffer, long[]> createShapeInformation(long[] shape, long[] stride, long elementWiseStride, char order,
                                                          DataType dataType, boolean empty) {
        Key key = new Key(shape, stride, elementWiseStride, order, dataType, empty);
        Pair<DataBuffer, long[]> hit = cache.get(key);
        if (hit != null) {
            return hit;
        }
        Pair<DataBuffer, long[]> made = super.createShapeInformation(shape, stride, elementWiseStride, order, dataType, empty);
        if (cache.size() < maxEntries) {
            // a concurrent caller may have put an equal pair first: hand out the one in the cache
            Pair<DataBuffer, long[]> first = cache.putIfAbsent(key.owned(), made);
            return first != null ? first : made;
        }
        return made;
    }

    /** Number of cached shapes. */
    int size() {
        return cache.size();
    }

    /**
     * Selects this provider for ND4J unless the user chose one or switched it off; call before anything
     * initialises ND4J (later calls change nothing for this process). Returns the provider class ND4J will use.
     */
    public static synchronized String applyBeforeNd4j() {
        String value = System.getProperty(PROPERTY, "true").trim().toLowerCase(Locale.ROOT);
        if (!value.equals("true") && !value.equals("false")) {
            throw new UserError("-D" + PROPERTY + " must be true or false, got '" + System.getProperty(PROPERTY) + "'");
        }
        String chosen = System.getProperty(ND4J_KEY);
        if (chosen == null && value.equals("true")) {
            System.setProperty(ND4J_KEY, ShapeInfoCache.class.getName());
            chosen = ShapeInfoCache.class.getName();
        }
        return chosen != null ? chosen : "nd4j default";
    }

    /** The provider this process runs (initialises ND4J). */
    public static String current() {
        return Nd4j.getShapeInfoProvider().getClass().getName();
    }

    /** shape, stride, ews, order, type, empty: what the native shape buffer is made of. */
    private static final class Key {
        private final long[] shape;
        private final long[] stride;
        private final long ews;
        private final char order;
        private final DataType type;
        private final boolean empty;
        private final int hash;

        Key(long[] shape, long[] stride, long ews, char order, DataType type, boolean empty) {
            this.shape = shape;
            this.stride = stride;
            this.ews = ews;
            this.order = order;
            this.type = type;
            this.empty = empty;
            int h = Arrays.hashCode(shape);
            h = 31 * h + Arrays.hashCode(stride);
            h = 31 * h + Long.hashCode(ews);
            h = 31 * h + order;
            h = 31 * h + type.ordinal();
            this.hash = 31 * h + (empty ? 1 : 0);
        }

        /** A copy that owns its arrays (callers may reuse theirs). */
        Key owned() {
            return new Key(shape.clone(), stride.clone(), ews, order, type, empty);
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.hash == hash && k.ews == ews && k.order == order && k.type == type
                    && k.empty == empty && Arrays.equals(k.shape, shape) && Arrays.equals(k.stride, stride);
        }
    }
}
