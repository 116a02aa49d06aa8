package org.xraydl.data;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.MatVector;
import org.datavec.image.loader.NativeImageLoader;
import org.datavec.image.transform.ImageTransform;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.memory.pointers.PagedPointer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static org.bytedeco.opencv.global.opencv_core.CV_16S;
import static org.bytedeco.opencv.global.opencv_core.CV_16U;
import static org.bytedeco.opencv.global.opencv_core.CV_32F;
import static org.bytedeco.opencv.global.opencv_core.CV_32FC1;
import static org.bytedeco.opencv.global.opencv_core.CV_32S;
import static org.bytedeco.opencv.global.opencv_core.CV_64F;
import static org.bytedeco.opencv.global.opencv_core.CV_8S;
import static org.bytedeco.opencv.global.opencv_core.CV_8U;
import static org.bytedeco.opencv.global.opencv_core.CV_MAKETYPE;
import static org.bytedeco.opencv.global.opencv_core.LUT;
import static org.bytedeco.opencv.global.opencv_core.split;

/**
 * DataVec's {@link NativeImageLoader} with the last step, the copy of the (decoded, transformed, resized)
 * OpenCV Mat into the float {@code [C, H, W]} INDArray, done by OpenCV in bulk instead of DataVec's
 * per-element indexer loop (80 % of the data path's time in the training job's profile, more so under C1).
 *
 * <p>DataVec 1.0.0-M2.1's {@code fillNDArray} writes Mat channel {@code k} (OpenCV's order, BGR for colour)
 * to plane {@code k} at {@code ret.data().pointer() + ret.data().offset()} with the strides
 * {@code ret.stride()[0..2]}, each value converted to float ({@code (float) int} for 8/16-bit unsigned and
 * 32-bit integer Mats, {@code (float) double} for the other depths). The fast path does the same with
 * {@code Mat.convertTo(CV_32F)} (exact for integers up to 16 bits; round-to-nearest like Java's cast for
 * 32-bit ints and doubles) straight into the array's planes, or {@code split} into the planes (wrapped as
 * {@code CV_32FC1} Mats) for several channels. It is taken only where the layout is unambiguous: a float
 * array of rank 3, shaped exactly {@code [channels, rows, cols]} of the Mat with c-order strides
 * {@code [rows*cols, cols, 1]} (a view such as the record reader's slice of its batch array is fine, its
 * buffer offset is used like DataVec uses it), and a Mat of depth 8U/8S/16U/16S/32S/32F/64F (continuous or
 * not). Anything else (double or half arrays, rank 2 or 4 targets, other strides, 16F Mats, empty
 * images, a length mismatch DataVec rejects) goes to DataVec's own loop unchanged.
 */
public class FastImageLoader extends NativeImageLoader {
    /** The 3-channel float tables (a 1x256 {@code CV_32FC3} Mat per normalisation mode), made once and only read. */
    private static final Map<String, Mat> LEVEL_TABLES = new ConcurrentHashMap<>();

    /** Normalises each image as it is written (null: the raw pixel values, as DataVec writes them). */
    private final ImageNormalizer normalizer;

    public FastImageLoader() {
        this.normalizer = null;
    }

    public FastImageLoader(long height, long width, long channels) {
        super(height, width, channels);
        this.normalizer = null;
    }

    public FastImageLoader(long height, long width, long channels, ImageTransform imageTransform) {
        this(height, width, channels, imageTransform, null);
    }

    /**
     * A loader that writes each image already normalised by {@code normalizer} (null: raw values): the same bits
     * as writing the raw values and running {@link ImageNormalizer#normalize} on the batch afterwards, done per
     * image on the decoding thread. 8-bit images go through the normaliser's {@link ImageNormalizer#levelTables}
     * (OpenCV's {@code LUT}, then the split into planes); anything else is written raw, then normalised in place
     * by the same float operations in Java.
     */
    public FastImageLoader(long height, long width, long channels, ImageTransform imageTransform, ImageNormalizer normalizer) {
        super(height, width, channels, imageTransform);
        if (normalizer != null && channels != normalizer.channels()) {
            throw new IllegalArgumentException("the normaliser is made for " + normalizer.channels() + " channels, the loader writes " + channels);
        }
        this.normalizer = normalizer;
    }

    @Override
    protected void fillNDArray(Mat image, INDArray ret) {
        if (normalizer == null) {
            fillRaw(image, ret);
        } else if (image.depth() == CV_8U && image.channels() == normalizer.channels() && fastPathApplies(image, ret)) {
            try (Mat normalised = new Mat()) {
                LUT(image, levelTable(normalizer), normalised);
                fillRaw(normalised, ret);
            }
        } else {
            fillRaw(image, ret);
            normalizeInPlace(ret);
        }
    }

    private static Mat levelTable(ImageNormalizer normalizer) {
        return LEVEL_TABLES.computeIfAbsent(normalizer.mode(), mode -> {
            float[][] t = normalizer.levelTables();
            float[] interleaved = new float[256 * t.length];
            for (int level = 0; level < 256; level++) {
                for (int c = 0; c < t.length; c++) {
                    interleaved[level * t.length + c] = t[c][level];
                }
            }
            Mat table = new Mat(1, 256, CV_MAKETYPE(CV_32F, t.length));
            new FloatPointer(table.data()).put(interleaved);
            return table;
        });
    }

    /** {@link ImageNormalizer#normalize} on one written [C, H, W] image, element by element with the same float operations. */
    private void normalizeInPlace(INDArray ret) {
        long[] shape = ret.shape();
        for (int c = 0; c < shape[0]; c++) {
            for (long i = 0; i < shape[1]; i++) {
                for (long j = 0; j < shape[2]; j++) {
                    ret.putScalar(new long[]{c, i, j}, normalizer.normalize(ret.getFloat(c, i, j), c));
                }
            }
        }
    }

    /** The raw values: OpenCV's bulk copy where it applies, DataVec's loop otherwise. */
    private void fillRaw(Mat image, INDArray ret) {
        if (!fastPathApplies(image, ret)) {
            super.fillNDArray(image, ret);
            return;
        }
        int rows = image.rows();
        int cols = image.cols();
        int channels = image.channels();
        long plane = (long) rows * cols;
        // Where DataVec's indexer writes element (0, 0, 0): the buffer's pointer plus its offset.
        long base = ret.data().pointer().address() + ret.data().offset() * Float.BYTES;
        Mat[] planes = new Mat[channels];
        try {
            for (int k = 0; k < channels; k++) {
                planes[k] = new Mat(rows, cols, CV_32FC1, new PagedPointer(base + k * plane * Float.BYTES));
            }
            if (channels == 1) {
                image.convertTo(planes[0], CV_32F);
                check(planes[0], base);
            } else {
                Mat floats = image.depth() == CV_32F ? image : new Mat();
                try {
                    if (floats != image) {
                        image.convertTo(floats, CV_32F);
                    }
                    try (MatVector out = new MatVector(planes)) {
                        split(floats, out);
                        for (int k = 0; k < channels; k++) {
                            try (Mat written = out.get(k)) {
                                check(written, base + k * plane * Float.BYTES);
                            }
                        }
                    }
                } finally {
                    if (floats != image) {
                        floats.close();
                    }
                }
            }
        } finally {
            for (Mat p : planes) {
                if (p != null) {
                    p.close();
                }
            }
        }
        image.data(); // as DataVec: keep the image reachable until here
        Nd4j.getAffinityManager().tagLocation(ret, AffinityManager.Location.HOST);
    }

    /** OpenCV wrote into the array's memory, not into a buffer of its own (it would only reallocate on a size or type mismatch). */
    private static void check(Mat written, long address) {
        if (written.data().address() != address) {
            throw new IllegalStateException("OpenCV reallocated an output plane instead of writing into the INDArray");
        }
    }

    /** True when the bulk copy writes exactly what DataVec's loop writes (see the class comment). */
    static boolean fastPathApplies(Mat image, INDArray ret) {
        int depth = image.depth();
        boolean knownDepth = depth == CV_8U || depth == CV_8S || depth == CV_16U || depth == CV_16S
                || depth == CV_32S || depth == CV_32F || depth == CV_64F;
        long rows = image.rows();
        long cols = image.cols();
        long channels = image.channels();
        if (!knownDepth || image.dims() != 2 || rows <= 0 || cols <= 0 || channels <= 0) {
            return false;
        }
        if (ret.data().dataType() != DataType.FLOAT || ret.rank() != 3) {
            return false;
        }
        Pointer pointer = ret.data().pointer();
        if (!(pointer instanceof FloatPointer) || pointer.address() == 0) {
            return false;
        }
        long[] shape = ret.shape();
        long[] stride = ret.stride();
        return shape[0] == channels && shape[1] == rows && shape[2] == cols
                && stride[0] == rows * cols && stride[1] == cols && stride[2] == 1
                && ret.length() == channels * rows * cols;
    }
}
