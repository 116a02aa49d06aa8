package org.xraydl.explain;

import org.bytedeco.opencv.opencv_core.Mat;
import org.xraydl.AtomicFiles;
import org.xraydl.UserError;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_COLOR;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imread;

/**
 * Draws a {@link Heatmap} on the X-ray it explains: the map in the jet colour scale (blue = no
 * evidence, red = strongest), blended more strongly where it is hotter, over the part of the
 * image the model saw, with a colour bar inside the right edge. The result has the size of the
 * image it is drawn on.
 */
public final class Overlay {

    private Overlay() {
    }

    /**
     * @param window where the heatmap lies in {@code image}: {x, y, width, height} in its pixels
     *               (e.g. {@code CenterCropTransform.sourceWindow}); the rest stays as it was
     */
    public static BufferedImage render(BufferedImage image, Heatmap map, double[] window) {
        int w = image.getWidth();
        int h = image.getHeight();
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.drawImage(image, 0, 0, null);
        g.dispose();
        int top = Math.max(0, (int) Math.floor(window[1]));
        int left = Math.max(0, (int) Math.floor(window[0]));
        for (int y = top; y < Math.min(h, Math.ceil(window[1] + window[3])); y++) {
            double my = (y + 0.5 - window[1]) * map.height() / window[3];
            if (my < 0 || my >= map.height()) {
                continue;
            }
            for (int x = left; x < Math.min(w, Math.ceil(window[0] + window[2])); x++) {
                double mx = (x + 0.5 - window[0]) * map.width() / window[2];
                if (mx < 0 || mx >= map.width()) {
                    continue;
                }
                double v = map.interpolate(my, mx);
                out.setRGB(x, y, blend(out.getRGB(x, y), jet(v), 0.25 + 0.45 * v));
            }
        }
        drawColourBar(out);
        return out;
    }

    /** The overlay on a whole image file (decoded as the model's loader decodes it). */
    public static BufferedImage render(Path imageFile, Heatmap map, java.util.function.BiFunction<Integer, Integer, double[]> window) {
        BufferedImage img = read(imageFile);
        return render(img, map, window.apply(img.getWidth(), img.getHeight()));
    }

    public static byte[] png(BufferedImage img) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            ImageIO.write(img, "png", bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** Writes the PNG atomically (temp file, then rename). */
    public static void writePng(BufferedImage img, Path target) {
        try {
            AtomicFiles.write(target, tmp -> java.nio.file.Files.write(tmp, png(img)));
        } catch (IOException e) {
            throw new UserError("cannot write heatmap " + target + ": " + e.getMessage());
        }
    }

    /** The image as 8-bit RGB, read by OpenCV like the model's input (grey, 16-bit and colour files alike). */
    static BufferedImage read(Path file) {
        Mat m = imread(file.toString(), IMREAD_COLOR);
        try {
            if (m == null || m.empty()) {
                throw new UserError("cannot decode image " + file + " for its heatmap overlay");
            }
            int w = m.cols();
            int h = m.rows();
            byte[] bgr = new byte[w * h * 3];
            Mat c = m.isContinuous() ? m : m.clone();
            c.data().get(bgr);
            BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_3BYTE_BGR);
            img.getRaster().setDataElements(0, 0, w, h, bgr);
            return img;
        } finally {
            if (m != null) {
                m.close();
            }
        }
    }

    /** The jet colour map (MATLAB's): dark blue, blue, cyan, yellow, red, dark red for 0..1. */
    static int jet(double v) {
        double t = Math.min(1, Math.max(0, v));
        double r = clamp(1.5 - Math.abs(4 * t - 3));
        double gr = clamp(1.5 - Math.abs(4 * t - 2));
        double b = clamp(1.5 - Math.abs(4 * t - 1));
        return ((int) Math.round(r * 255) << 16) | ((int) Math.round(gr * 255) << 8) | (int) Math.round(b * 255);
    }

    private static double clamp(double v) {
        return Math.min(1, Math.max(0, v));
    }

    private static int blend(int base, int colour, double alpha) {
        int r = (int) Math.round((1 - alpha) * ((base >> 16) & 255) + alpha * ((colour >> 16) & 255));
        int g = (int) Math.round((1 - alpha) * ((base >> 8) & 255) + alpha * ((colour >> 8) & 255));
        int b = (int) Math.round((1 - alpha) * (base & 255) + alpha * (colour & 255));
        return (r << 16) | (g << 8) | b;
    }

    /** A vertical jet bar (1 at the top, 0 at the bottom) inside the right edge, labelled when there is room. */
    private static void drawColourBar(BufferedImage img) {
        int w = img.getWidth();
        int h = img.getHeight();
        int barW = Math.max(3, w / 40);
        int barH = Math.max(8, h / 2);
        int margin = Math.max(2, w / 60);
        int x0 = w - barW - margin;
        int y0 = (h - barH) / 2;
        if (x0 < 0 || barH > h) {
            return; // too small an image for a bar
        }
        for (int y = 0; y < barH; y++) {
            int rgb = jet(1 - y / (double) Math.max(1, barH - 1));
            for (int x = 0; x < barW; x++) {
                img.setRGB(x0 + x, y0 + y, rgb);
            }
        }
        Graphics2D g = img.createGraphics();
        g.setColor(Color.WHITE);
        g.setStroke(new BasicStroke(1));
        g.drawRect(x0 - 1, y0 - 1, barW + 1, barH + 1);
        int fontSize = Math.max(8, h / 40);
        if (x0 > 3 * fontSize && h >= 96) {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, fontSize));
            g.drawString("1", x0 - fontSize, y0 + fontSize);
            g.drawString("0", x0 - fontSize, y0 + barH);
        }
        g.dispose();
    }
}
