package org.xraydl.model.io;

import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.impl.FrozenVertex;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The numbers of a network's flat parameter vector ({@code net.params()}) that training can change: those of its
 * vertices that are not frozen ({@code FrozenLayer}, {@code FrozenLayerWithBackprop}, {@code FrozenVertex}), batch-norm
 * running mean and variance included (DL4J keeps them in the same vector). Held as ranges of that vector in its order,
 * adjacent ranges merged; "the trainable part" of a full-length vector is those ranges one after the other.
 * <p>
 * The weight average of an {@code emaDecay} training is of the trainable part only ({@link ModelZip#WEIGHT_AVERAGE}
 * stores it so): a frozen trunk's weights never change, and averaging them would only copy them (~550 MB for VGG16).
 */
public final class TrainableParameters {
    private final long total;
    /** Merged ranges [starts[i], ends[i]) of the flat vector, ascending. */
    private final long[] starts;
    private final long[] ends;
    private final long count;

    private TrainableParameters(long total, long[] starts, long[] ends) {
        this.total = total;
        this.starts = starts;
        this.ends = ends;
        long n = 0;
        for (int i = 0; i < starts.length; i++) {
            n += ends[i] - starts[i];
        }
        this.count = n;
    }

    /** Every number of a vector of {@code total} (a network without frozen layers has these). */
    public static TrainableParameters all(long total) {
        return total == 0 ? new TrainableParameters(0, new long[0], new long[0])
                : new TrainableParameters(total, new long[]{0}, new long[]{total});
    }

    /**
     * {@code net}'s trainable ranges, found from the vertices' parameter views (slices of the flat vector); the views
     * must tile the whole vector, else the layout is not the one assumed here and this refuses (a program error).
     */
    public static TrainableParameters of(ComputationGraph net) {
        INDArray flat = net.params();
        long total = flat.length();
        List<long[]> all = new ArrayList<>(); // {start, end, trainable 0/1}
        for (GraphVertex v : net.getVertices()) {
            long n = v.numParams();
            if (n == 0) {
                continue;
            }
            INDArray view = v.params();
            if (view == null || view.length() != n || view.data().address() != flat.data().address()
                    || (n > 1 && view.elementWiseStride() != 1)) {
                throw new IllegalStateException("the parameters of vertex " + v.getVertexName() + " are not a slice of the network's flat vector");
            }
            // A view's buffer has the address of the allocation it is a slice of, its offset() counts from there.
            long start = view.offset() - flat.offset();
            all.add(new long[]{start, start + n, frozen(v) ? 0 : 1});
        }
        all.sort(Comparator.comparingLong(r -> r[0]));
        long at = 0;
        List<long[]> trainable = new ArrayList<>();
        for (long[] r : all) {
            if (r[0] != at) {
                throw new IllegalStateException("the vertices' parameters do not tile the network's flat vector at " + at);
            }
            at = r[1];
            if (r[2] == 1) {
                long[] last = trainable.isEmpty() ? null : trainable.get(trainable.size() - 1);
                if (last != null && last[1] == r[0]) {
                    last[1] = r[1];
                } else {
                    trainable.add(new long[]{r[0], r[1]});
                }
            }
        }
        if (at != total) {
            throw new IllegalStateException("the vertices' parameters cover " + at + " of the network's " + total);
        }
        long[] s = new long[trainable.size()];
        long[] e = new long[trainable.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = trainable.get(i)[0];
            e[i] = trainable.get(i)[1];
        }
        return new TrainableParameters(total, s, e);
    }

    private static boolean frozen(GraphVertex v) {
        if (v instanceof FrozenVertex) {
            return true;
        }
        Layer l = v.hasLayer() ? v.getLayer() : null;
        return l instanceof FrozenLayer || l instanceof FrozenLayerWithBackprop;
    }

    /** How many numbers training can change. */
    public long count() {
        return count;
    }

    /** The length of the whole flat vector. */
    public long total() {
        return total;
    }

    /** True when nothing is frozen: the trainable part is the whole vector. */
    public boolean isAll() {
        return count == total;
    }

    /** The number of ranges (adjacent trainable vertices merged). */
    public int ranges() {
        return starts.length;
    }

    /** A new {@code [1, count]} array (outside any workspace) with the trainable part of {@code full} (only read). */
    public INDArray gather(INDArray full) {
        requireLength(full, total, "a full vector");
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            if (isAll()) {
                return full.reshape(1, total).dup('c');
            }
            INDArray part = Nd4j.create(full.dataType(), 1, count);
            INDArray[] from = views(full, total);
            INDArray[] to = partViews(part);
            for (int i = 0; i < from.length; i++) {
                to[i].assign(from[i]);
            }
            return part;
        }
    }

    /** Writes {@code part} (the trainable part, only read) into {@code full}'s trainable ranges; the others are left as they are. */
    public void scatter(INDArray part, INDArray full) {
        requireLength(part, count, "a trainable part");
        requireLength(full, total, "a full vector");
        INDArray[] to = views(full, total);
        INDArray[] from = partViews(part);
        for (int i = 0; i < to.length; i++) {
            to[i].assign(from[i]);
        }
    }

    /** Views of {@code full}'s trainable ranges, in order (each {@code [1, length]}; {@code full} itself when it is a row and nothing is frozen). */
    public INDArray[] views(INDArray full) {
        requireLength(full, total, "a full vector");
        return views(full, total);
    }

    /** Views of {@code part}'s slices that correspond to {@link #views}, in order. */
    public INDArray[] partViews(INDArray part) {
        requireLength(part, count, "a trainable part");
        if (isAll()) {
            return new INDArray[]{asRow(part, count)};
        }
        INDArray row = asRow(part, count);
        INDArray[] v = new INDArray[starts.length];
        long at = 0;
        for (int i = 0; i < v.length; i++) {
            long n = ends[i] - starts[i];
            v[i] = row.get(NDArrayIndex.all(), NDArrayIndex.interval(at, at + n));
            at += n;
        }
        return v;
    }

    private INDArray[] views(INDArray full, long total) {
        if (isAll()) {
            return new INDArray[]{asRow(full, total)};
        }
        INDArray row = asRow(full, total);
        INDArray[] v = new INDArray[starts.length];
        for (int i = 0; i < v.length; i++) {
            v[i] = row.get(NDArrayIndex.all(), NDArrayIndex.interval(starts[i], ends[i]));
        }
        return v;
    }

    /** {@code x} as a {@code [1, n]} row: itself when it is one, else a view (a copy would lose writes, so none is made). */
    private static INDArray asRow(INDArray x, long n) {
        if (x.rank() == 2 && x.size(0) == 1) {
            return x;
        }
        return x.reshape('c', true, 1, n); // enforceView: throws rather than copy
    }

    private static void requireLength(INDArray x, long n, String what) {
        if (x.length() != n) {
            throw new IllegalStateException(what + " of " + n + " numbers expected, got " + x.length());
        }
    }

    @Override
    public String toString() {
        return count + " of " + total + " parameters in " + starts.length + " range(s)";
    }
}
