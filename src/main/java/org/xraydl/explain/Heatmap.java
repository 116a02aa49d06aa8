package org.xraydl.explain;

import java.util.Arrays;

/**
 * A Grad-CAM map for one image: {@code values[y][x]} in [0, 1] at the model's input size (1 = the
 * strongest evidence for {@link #classIndex}), the class it explains, that class's probability, and
 * the layer it was taken at. All zeros when no location speaks for the class.
 */
public record Heatmap(double[][] values, int classIndex, double probability, String layer) {

    public int height() {
        return values.length;
    }

    public int width() {
        return values[0].length;
    }

    public double at(int y, int x) {
        return values[y][x];
    }

    /**
     * The map between pixel centres, bilinearly (centre of pixel (i, j) at (i + 0.5, j + 0.5)), for
     * drawing it on an image larger than the model's input; clamped at the borders.
     */
    public double interpolate(double y, double x) {
        return interpolate(values, y, x);
    }

    static double interpolate(double[][] values, double y, double x) {
        int h = values.length;
        int w = values[0].length;
        double sy = Math.min(Math.max(y - 0.5, 0), h - 1);
        double sx = Math.min(Math.max(x - 0.5, 0), w - 1);
        int y0 = (int) sy;
        int x0 = (int) sx;
        int y1 = Math.min(y0 + 1, h - 1);
        int x1 = Math.min(x0 + 1, w - 1);
        double fy = sy - y0;
        double fx = sx - x0;
        return (1 - fy) * ((1 - fx) * values[y0][x0] + fx * values[y0][x1]) + fy * ((1 - fx) * values[y1][x0] + fx * values[y1][x1]);
    }

    /** {y, x} of the largest value (the first one in row order on ties). */
    public int[] peak() {
        int[] best = {0, 0};
        for (int y = 0; y < height(); y++) {
            for (int x = 0; x < width(); x++) {
                if (values[y][x] > values[best[0]][best[1]]) {
                    best = new int[]{y, x};
                }
            }
        }
        return best;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Heatmap h && h.classIndex == classIndex && Double.compare(h.probability, probability) == 0
                && h.layer.equals(layer) && Arrays.deepEquals(h.values, values);
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(values) * 31 + classIndex;
    }

    @Override
    public String toString() {
        return "Heatmap[" + height() + "x" + width() + ", class " + classIndex + ", p=" + probability + ", layer " + layer + "]";
    }
}
