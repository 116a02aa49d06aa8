package org.xraydl.data;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.opencv.opencv_core.Mat;

import static org.bytedeco.opencv.global.opencv_core.CV_8U;
import static org.bytedeco.opencv.global.opencv_core.CV_MAKETYPE;

/**
 * PIL's {@code Image.resize(size, Image.BILINEAR)} for 8-bit Mats (any channel count), the resize torchvision
 * does on PIL images. OpenCV has no antialiased bilinear filter: its INTER_LINEAR samples 2x2 pixels whatever
 * the scale (aliasing when shrinking), and INTER_AREA is a box filter; PIL widens the triangle filter by the
 * scale factor when shrinking. Hence this pure-Java port of Pillow's {@code libImaging/Resample.c}.
 *
 * <p>Per axis: {@code scale = in / out}, {@code filterscale = max(scale, 1)}, {@code support = filterscale};
 * output pixel {@code i} is centred at {@code (i + 0.5) * scale} in the input; input pixel {@code j} gets
 * weight {@code max(0, 1 - |(j - centre + 0.5) / filterscale|)} for {@code j} in
 * {@code [(int) (centre - support + 0.5), (int) (centre + support + 0.5))} clipped to {@code [0, in)}, the
 * weights normalised to sum 1. A horizontal pass, then a vertical one; an axis whose size does not change is
 * not resampled (as in PIL).
 *
 * <p>Rounding is PIL's exactly, so the result is bit-identical to Pillow's on the same 8-bit input (checked offline
 * with {@code tools/antialias_compare.py}: Pillow 9.4, 20 training images, 224 -> 109 and 60 crops of 170..210 px
 * -> 96, grey and 3-channel: no level differs): the normalised double weights become
 * fixed-point integers {@code (int) (0.5 + w * 2^22)}, each output is {@code (2^21 + sum(level * weight)) >> 22}
 * clamped to 0..255, and the horizontal pass's result is rounded to 8 bits before the vertical pass.
 */
public final class AntialiasedResize {
    /** PIL's PRECISION_BITS for 8-bit images: 32 - 8 (levels) - 2 (headroom). */
    private static final int PRECISION_BITS = 32 - 8 - 2;

    private AntialiasedResize() {
    }

    /**
     * {@code src} (8-bit, any channel count, continuous or not, e.g. a {@code mat.apply(rect)} crop) resized to
     * {@code width x height}; a new continuous Mat of the same type.
     */
    public static Mat resize(Mat src, int width, int height) {
        if (src.depth() != CV_8U || src.dims() != 2) {
            throw new IllegalArgumentException("antialiased resize needs a 2-D 8-bit image, got OpenCV type " + src.type());
        }
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("target size must be positive, got " + width + "x" + height);
        }
        int inW = src.cols();
        int inH = src.rows();
        int ch = src.channels();
        byte[] in = read(src);
        int w = inW;
        byte[] pixels = in;
        if (width != inW) {
            pixels = horizontal(pixels, inW, inH, ch, width);
            w = width;
        }
        if (height != inH) {
            pixels = vertical(pixels, w, inH, ch, height);
        }
        Mat out = new Mat(height, width, CV_MAKETYPE(CV_8U, ch));
        out.data().put(pixels, 0, pixels.length);
        return out;
    }

    /** The pixels, row by row without padding (a non-continuous Mat is read a row at a time, from its own stride). */
    private static byte[] read(Mat src) {
        int rowBytes = src.cols() * src.channels();
        byte[] out = new byte[rowBytes * src.rows()];
        if (src.isContinuous()) {
            src.data().get(out, 0, out.length);
        } else {
            for (int r = 0; r < src.rows(); r++) {
                try (BytePointer row = src.ptr(r)) {
                    row.get(out, r * rowBytes, rowBytes);
                }
            }
        }
        return out;
    }

    private static byte[] horizontal(byte[] in, int inW, int h, int ch, int outW) {
        Coefficients k = Coefficients.of(inW, outW);
        byte[] out = new byte[outW * h * ch];
        for (int y = 0; y < h; y++) {
            int rowIn = y * inW * ch;
            int rowOut = y * outW * ch;
            for (int x = 0; x < outW; x++) {
                int first = k.first[x];
                int taps = k.count[x];
                int kBase = x * k.size;
                for (int c = 0; c < ch; c++) {
                    int sum = 1 << (PRECISION_BITS - 1);
                    for (int t = 0; t < taps; t++) {
                        sum += (in[rowIn + (first + t) * ch + c] & 0xff) * k.weights[kBase + t];
                    }
                    out[rowOut + x * ch + c] = clip8(sum);
                }
            }
        }
        return out;
    }

    private static byte[] vertical(byte[] in, int w, int inH, int ch, int outH) {
        Coefficients k = Coefficients.of(inH, outH);
        int rowBytes = w * ch;
        byte[] out = new byte[rowBytes * outH];
        for (int y = 0; y < outH; y++) {
            int first = k.first[y];
            int taps = k.count[y];
            int kBase = y * k.size;
            int rowOut = y * rowBytes;
            for (int i = 0; i < rowBytes; i++) {
                int sum = 1 << (PRECISION_BITS - 1);
                for (int t = 0; t < taps; t++) {
                    sum += (in[(first + t) * rowBytes + i] & 0xff) * k.weights[kBase + t];
                }
                out[rowOut + i] = clip8(sum);
            }
        }
        return out;
    }

    private static byte clip8(int sum) {
        int v = sum >> PRECISION_BITS;
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }

    /**
     * One axis's filter, as PIL's {@code precompute_coeffs} + {@code normalize_coeffs_8bpc}: output {@code i} reads
     * {@code count[i]} input pixels from {@code first[i]} with the fixed-point weights
     * {@code weights[i * size .. i * size + count[i])}.
     */
    record Coefficients(int size, int[] first, int[] count, int[] weights, double[] exact) {

        static Coefficients of(int inSize, int outSize) {
            double scale = (double) inSize / outSize;
            double filterscale = Math.max(scale, 1.0);
            double support = 1.0 * filterscale; // bilinear: support 1, widened by the scale when shrinking
            int size = (int) Math.ceil(support) * 2 + 1;
            int[] first = new int[outSize];
            int[] count = new int[outSize];
            double[] exact = new double[outSize * size];
            int[] weights = new int[outSize * size];
            double ss = 1.0 / filterscale; // PIL multiplies by the reciprocal; same here, for the same doubles
            for (int i = 0; i < outSize; i++) {
                double centre = (i + 0.5) * scale;
                // PIL's (int) casts: truncation toward zero, then clipped to the image.
                int min = Math.max(0, (int) (centre - support + 0.5));
                int max = Math.min(inSize, (int) (centre + support + 0.5)) - min;
                double total = 0;
                for (int t = 0; t < max; t++) {
                    double w = triangle((t + min - centre + 0.5) * ss);
                    exact[i * size + t] = w;
                    total += w;
                }
                for (int t = 0; t < max; t++) {
                    if (total != 0.0) {
                        exact[i * size + t] /= total;
                    }
                    // weights are never negative for the triangle filter: PIL's positive branch
                    weights[i * size + t] = (int) (0.5 + exact[i * size + t] * (1 << PRECISION_BITS));
                }
                first[i] = min;
                count[i] = max;
            }
            return new Coefficients(size, first, count, weights, exact);
        }

        private static double triangle(double x) {
            double a = Math.abs(x);
            return a < 1.0 ? 1.0 - a : 0.0;
        }
    }
}
