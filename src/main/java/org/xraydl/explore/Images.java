package org.xraydl.explore;

import org.bytedeco.javacv.Java2DFrameConverter;
import org.bytedeco.javacv.OpenCVFrameConverter;
import org.bytedeco.opencv.global.opencv_imgcodecs;
import org.bytedeco.opencv.opencv_core.Mat;
import org.datavec.image.data.ImageWritable;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.internal.chartpart.Chart;
import org.xraydl.UserError;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;

/** Image helpers for the explore API: decode any project image, charts to images, captioned grids. */
public final class Images {
    /** One grid cell: an image (may be null: an empty cell) and up to a few caption lines ('\n'). */
    public record Tile(BufferedImage image, String caption) {
    }

    static final Color BACKGROUND = Color.WHITE;
    static final Color TILE_BACKGROUND = new Color(24, 24, 24);
    static final Color TEXT = new Color(30, 30, 30);
    static final Font CAPTION_FONT = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
    static final Font LABEL_FONT = new Font(Font.SANS_SERIF, Font.BOLD, 14);
    static final int GAP = 6;
    static final int LINE_HEIGHT = 15;

    private Images() {
    }

    /** Decodes a JPEG/PNG/BMP: ImageIO first, OpenCV (what training uses) for anything ImageIO cannot read. */
    public static BufferedImage read(Path file) {
        try {
            BufferedImage img = ImageIO.read(file.toFile());
            if (img != null) {
                return img;
            }
        } catch (IOException | RuntimeException e) {
            // fall through to OpenCV
        }
        Mat m = opencv_imgcodecs.imread(file.toString(), opencv_imgcodecs.IMREAD_COLOR);
        try {
            if (m == null || m.empty()) {
                throw new UserError("cannot decode image " + file);
            }
            try (OpenCVFrameConverter.ToMat toFrame = new OpenCVFrameConverter.ToMat()) {
                return copy(new Java2DFrameConverter().convert(toFrame.convert(m)));
            }
        } finally {
            if (m != null) {
                m.close();
            }
        }
    }

    /** A DataVec image (as the training transforms produce it) as a standalone BufferedImage. */
    public static BufferedImage of(ImageWritable w) {
        return copy(new Java2DFrameConverter().convert(w.getFrame()));
    }

    /** An XChart chart drawn at its own size. */
    public static BufferedImage of(Chart<?, ?> chart) {
        return BitmapEncoder.getBufferedImage(chart);
    }

    /** Writes an image as PNG (e.g. to keep a figure from a notebook). */
    public static Path savePng(BufferedImage img, Path file) {
        try {
            if (file.toAbsolutePath().getParent() != null) {
                Files.createDirectories(file.toAbsolutePath().getParent());
            }
            ImageIO.write(img, "png", file.toFile());
            return file;
        } catch (IOException e) {
            throw new UserError("cannot write " + file + ": " + e.getMessage());
        }
    }

    /**
     * The image as a complete PNG in base64, what the notebooks display ({@code display("image/png", ...)}).
     * Not the Java kernel's own image display: rapaio-jupyter-kernel 3.0.x encodes through
     * {@code Base64.getEncoder().wrap(out)} and reads {@code out} without closing the wrapper, so the
     * last 1-2 bytes of two PNGs in three are never written and strict readers refuse the image.
     */
    public static String pngBase64(BufferedImage img) {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(img, "png", png)) {
                throw new IllegalStateException("no PNG writer for image type " + img.getType());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Base64.getEncoder().encodeToString(png.toByteArray());
    }

    /** A white image with a few lines of text: what a notebook shows instead of a chart it cannot draw. */
    public static BufferedImage message(String text, int width) {
        String[] lines = text.split("\n");
        int h = 2 * GAP + lines.length * (LINE_HEIGHT + 3) + GAP;
        BufferedImage img = new BufferedImage(width, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = graphics(img);
        g.setColor(TEXT);
        g.setFont(LABEL_FONT);
        for (int i = 0; i < lines.length; i++) {
            g.drawString(fit(lines[i], g.getFontMetrics(), width - 2 * GAP), GAP * 2, GAP + (i + 1) * (LINE_HEIGHT + 3));
        }
        g.dispose();
        return img;
    }

    /**
     * Rows of tiles, each image scaled to fit a {@code tile x tile} square (aspect kept) with its
     * caption lines under it, and an optional label left of each row.
     */
    public static BufferedImage grid(List<List<Tile>> rows, List<String> rowLabels, int tile) {
        int columns = rows.stream().mapToInt(List::size).max().orElse(0);
        int captionLines = 0;
        for (List<Tile> r : rows) {
            for (Tile t : r) {
                captionLines = Math.max(captionLines, t.caption() == null || t.caption().isEmpty() ? 0 : t.caption().split("\n").length);
            }
        }
        BufferedImage probe = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        Graphics2D pg = probe.createGraphics();
        pg.setFont(LABEL_FONT);
        int labelWidth = 0;
        if (rowLabels != null) {
            for (String l : rowLabels) {
                labelWidth = Math.max(labelWidth, pg.getFontMetrics().stringWidth(l) + 2 * GAP);
            }
        }
        pg.dispose();
        int cellH = tile + captionLines * LINE_HEIGHT + GAP;
        int width = labelWidth + GAP + Math.max(1, columns) * (tile + GAP);
        int height = GAP + Math.max(1, rows.size()) * (cellH + GAP);
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = graphics(out);
        for (int r = 0; r < rows.size(); r++) {
            int y = GAP + r * (cellH + GAP);
            if (rowLabels != null && r < rowLabels.size()) {
                g.setFont(LABEL_FONT);
                g.setColor(TEXT);
                g.drawString(rowLabels.get(r), GAP, y + tile / 2 + 5);
            }
            for (int c = 0; c < rows.get(r).size(); c++) {
                Tile t = rows.get(r).get(c);
                int x = labelWidth + GAP + c * (tile + GAP);
                g.setColor(TILE_BACKGROUND);
                g.fillRect(x, y, tile, tile);
                if (t.image() != null) {
                    BufferedImage img = t.image();
                    double s = Math.min(tile / (double) img.getWidth(), tile / (double) img.getHeight());
                    int w = Math.max(1, (int) Math.round(img.getWidth() * s));
                    int h = Math.max(1, (int) Math.round(img.getHeight() * s));
                    g.drawImage(img, x + (tile - w) / 2, y + (tile - h) / 2, w, h, null);
                }
                if (t.caption() != null && !t.caption().isEmpty()) {
                    g.setFont(CAPTION_FONT);
                    g.setColor(TEXT);
                    String[] lines = t.caption().split("\n");
                    for (int i = 0; i < lines.length; i++) {
                        g.drawString(fit(lines[i], g.getFontMetrics(), tile), x, y + tile + (i + 1) * LINE_HEIGHT - 2);
                    }
                }
            }
        }
        g.dispose();
        return out;
    }

    static Graphics2D graphics(BufferedImage img) {
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
        g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
        g.setColor(BACKGROUND);
        g.fillRect(0, 0, img.getWidth(), img.getHeight());
        return g;
    }

    /** The text, cut with an ellipsis to fit {@code width} pixels. */
    static String fit(String s, FontMetrics fm, int width) {
        if (fm.stringWidth(s) <= width) {
            return s;
        }
        String e = "…";
        int n = s.length();
        while (n > 0 && fm.stringWidth(s.substring(0, n) + e) > width) {
            n--;
        }
        return s.substring(0, n) + e;
    }

    /** A copy that owns its pixels (converters reuse their buffers). */
    static BufferedImage copy(BufferedImage src) {
        int type = src.getType() == BufferedImage.TYPE_CUSTOM ? BufferedImage.TYPE_INT_RGB : src.getType();
        BufferedImage dst = new BufferedImage(src.getWidth(), src.getHeight(), type);
        Graphics2D g = dst.createGraphics();
        g.drawImage(src, 0, 0, null);
        g.dispose();
        return dst;
    }
}
