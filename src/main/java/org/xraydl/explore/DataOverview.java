package org.xraydl.explore;

import org.datavec.image.data.ImageWritable;
import org.datavec.image.loader.NativeImageLoader;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.xraydl.UserError;
import org.xraydl.config.RunConfig;
import org.xraydl.data.AugmentationTransform;
import org.xraydl.data.ClassLabels;
import org.xraydl.data.CenterCropTransform;
import org.xraydl.data.Resampling;
import org.xraydl.data.ImageFolder;
import org.xraydl.data.ImageFolderScanner;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.PatientSplit;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A data folder as training sees it: the scanner's classes and readable images, the patient split
 * of the training images into train / validation (the configuration's {@code valFraction} and
 * {@code seed}), and the separate test split when the folder has one (the shipped sample and the
 * Kaggle tree do).
 */
public final class DataOverview {
    public static final String TRAIN = "train";
    public static final String VALIDATION = "validation";
    public static final String TEST = "test";

    /** One image's header facts. */
    public record ImageInfo(String split, String label, Path file, int width, int height) {
    }

    private final Path dataDir;
    private final RunConfig config;
    private final ImageFolder trainFolder;
    private final ImageFolder testFolder;
    private final Map<String, List<LabeledImage>> bySplit;
    private List<ImageInfo> infos;

    private DataOverview(Path dataDir, RunConfig config, ImageFolder trainFolder, ImageFolder testFolder,
                         Map<String, List<LabeledImage>> bySplit) {
        this.dataDir = dataDir;
        this.config = config;
        this.trainFolder = trainFolder;
        this.testFolder = testFolder;
        this.bySplit = bySplit;
    }

    /** {@link #scan(Path, RunConfig)} with the configuration training uses by default. */
    public static DataOverview scan(Path dataDir) {
        return scan(dataDir, Explore.defaultConfig());
    }

    /** Scans {@code dataDir} (unreadable images are skipped and counted) and splits it as training would with {@code config}. */
    public static DataOverview scan(Path dataDir, RunConfig config) {
        ImageFolder train = ImageFolderScanner.scan(dataDir, TRAIN, true, 0);
        ImageFolder test = null;
        try {
            ImageFolder t = ImageFolderScanner.scan(dataDir, TEST, true, 0);
            if (!t.root().equals(train.root())) {
                test = t;
            }
        } catch (UserError e) {
            // no test split: fine
        }
        PatientSplit.Split split = PatientSplit.split(train.images(), config.valFraction(), config.seed());
        Map<String, List<LabeledImage>> bySplit = new LinkedHashMap<>();
        bySplit.put(TRAIN, split.train());
        bySplit.put(VALIDATION, split.validation());
        if (test != null) {
            bySplit.put(TEST, test.images());
        }
        return new DataOverview(dataDir, config, train, test, bySplit);
    }

    public Path dataDir() {
        return dataDir;
    }

    public RunConfig config() {
        return config;
    }

    /** Class labels, sorted (the model's output order). */
    public List<String> labels() {
        Set<String> all = new HashSet<>(trainFolder.labels());
        if (testFolder != null) {
            all.addAll(testFolder.labels());
        }
        return ClassLabels.ordered(all);
    }

    /** Split names in order: train, validation and, when present, test. */
    public List<String> splits() {
        return List.copyOf(bySplit.keySet());
    }

    public List<LabeledImage> images(String split) {
        List<LabeledImage> l = bySplit.get(split);
        if (l == null) {
            throw new IllegalArgumentException("no split " + split + " (have " + bySplit.keySet() + ")");
        }
        return l;
    }

    /** Files the scanner could not decode (skipped, as {@code --skip-bad} would). */
    public List<Path> skipped() {
        List<Path> s = new ArrayList<>(trainFolder.skipped());
        if (testFolder != null) {
            s.addAll(testFolder.skipped());
        }
        return s;
    }

    /** Split → label → number of images (every label present, 0 when none). */
    public Map<String, Map<String, Integer>> counts() {
        Map<String, Map<String, Integer>> out = new LinkedHashMap<>();
        for (Map.Entry<String, List<LabeledImage>> e : bySplit.entrySet()) {
            Map<String, Integer> c = new TreeMap<>();
            labels().forEach(l -> c.put(l, 0));
            c.putAll(ImageFolder.countPerLabel(e.getValue()));
            out.put(e.getKey(), c);
        }
        return out;
    }

    /** Images and patients per split and class, with the share of the positive class (PNEUMONIA). */
    public Table countsTable() {
        List<String> labels = labels();
        List<String> header = new ArrayList<>(List.of("split"));
        header.addAll(labels);
        header.addAll(List.of("total", "patients", ClassLabels.POSITIVE + " share"));
        List<List<String>> rows = new ArrayList<>();
        Map<String, Map<String, Integer>> counts = counts();
        int[] all = new int[labels.size()];
        Set<String> allPatients = new TreeSet<>();
        for (String split : splits()) {
            rows.add(countRow(split, labels, counts.get(split), patients(images(split)).size()));
            for (int i = 0; i < labels.size(); i++) {
                all[i] += counts.get(split).get(labels.get(i));
            }
            images(split).forEach(im -> allPatients.add(split.equals(TEST) ? "test:" + im.patientId() : im.patientId()));
        }
        Map<String, Integer> total = new TreeMap<>();
        for (int i = 0; i < labels.size(); i++) {
            total.put(labels.get(i), all[i]);
        }
        rows.add(countRow("all", labels, total, allPatients.size()));
        return new Table(header, rows);
    }

    private static List<String> countRow(String name, List<String> labels, Map<String, Integer> counts, int patients) {
        List<String> r = new ArrayList<>(List.of(name));
        int total = 0;
        for (String l : labels) {
            r.add(String.valueOf(counts.get(l)));
            total += counts.get(l);
        }
        r.add(String.valueOf(total));
        r.add(String.valueOf(patients));
        int positives = counts.get(labels.get(ClassLabels.positiveIndex(labels)));
        r.add(total == 0 ? "n/a" : String.format(java.util.Locale.ROOT, "%.1f %%", 100.0 * positives / total));
        return r;
    }

    private static Set<String> patients(List<LabeledImage> images) {
        Set<String> p = new TreeSet<>();
        images.forEach(i -> p.add(i.patientId()));
        return p;
    }

    /** Grouped bars: images per split, one colour per class. */
    public CategoryChart countsChart() {
        CategoryChart chart = new CategoryChartBuilder().width(720).height(420)
                .title("Images per split and class").xAxisTitle("split").yAxisTitle("images").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        chart.getStyler().setLabelsVisible(true);
        Map<String, Map<String, Integer>> counts = counts();
        for (String l : labels()) {
            List<Integer> ys = splits().stream().map(s -> counts.get(s).get(l)).toList();
            chart.addSeries(l, splits(), ys);
        }
        return chart;
    }

    public BufferedImage countsImage() {
        return Images.of(countsChart());
    }

    /** Width and height of every image of every split, read from the file headers. */
    public synchronized List<ImageInfo> imageInfos() {
        if (infos == null) {
            List<ImageInfo> out = new ArrayList<>();
            for (String split : splits()) {
                for (LabeledImage i : images(split)) {
                    int[] wh = size(i.file());
                    out.add(new ImageInfo(split, i.label(), i.file(), wh[0], wh[1]));
                }
            }
            infos = List.copyOf(out);
        }
        return infos;
    }

    /** Per class (and for all images): count and min / median / max of width and height in pixels. */
    public Table sizeTable() {
        List<List<String>> rows = new ArrayList<>();
        for (String l : labels()) {
            rows.add(sizeRow(l, imageInfos().stream().filter(i -> i.label().equals(l)).toList()));
        }
        rows.add(sizeRow("all", imageInfos()));
        return new Table(List.of("class", "images", "width min", "width median", "width max",
                "height min", "height median", "height max", "median width/height"), rows);
    }

    private static List<String> sizeRow(String name, List<ImageInfo> infos) {
        if (infos.isEmpty()) {
            return List.of(name, "0", "", "", "", "", "", "", "");
        }
        List<Integer> w = infos.stream().map(ImageInfo::width).sorted().toList();
        List<Integer> h = infos.stream().map(ImageInfo::height).sorted().toList();
        List<Double> ar = infos.stream().map(i -> i.width() / (double) i.height()).sorted().toList();
        return List.of(name, String.valueOf(infos.size()),
                String.valueOf(w.get(0)), String.valueOf(w.get(w.size() / 2)), String.valueOf(w.get(w.size() - 1)),
                String.valueOf(h.get(0)), String.valueOf(h.get(h.size() / 2)), String.valueOf(h.get(h.size() - 1)),
                Table.num(ar.get(ar.size() / 2), 2));
    }

    /** Scatter of width against height, one series per class (one point per image). */
    public XYChart sizeScatter() {
        XYChart chart = new XYChartBuilder().width(720).height(480)
                .title("Image sizes").xAxisTitle("width (px)").yAxisTitle("height (px)").build();
        chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        chart.getStyler().setMarkerSize(5);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        int max = imageInfos().stream().mapToInt(i -> Math.max(i.width(), i.height())).max().orElse(1);
        chart.getStyler().setXAxisMin(0.0).setXAxisMax(max * 1.05).setYAxisMin(0.0).setYAxisMax(max * 1.05);
        for (String l : labels()) {
            List<ImageInfo> li = imageInfos().stream().filter(i -> i.label().equals(l)).toList();
            if (!li.isEmpty()) {
                chart.addSeries(l, li.stream().map(ImageInfo::width).toList(), li.stream().map(ImageInfo::height).toList());
            }
        }
        return chart;
    }

    /**
     * Histogram of the longer side of each image (what the resize to the model's input shrinks), per
     * class: at most {@code bins} bins of equal integer width, labelled with their pixel range.
     */
    public CategoryChart sizeHistogram(int bins) {
        List<Integer> all = imageInfos().stream().map(i -> Math.max(i.width(), i.height())).toList();
        int min = all.stream().mapToInt(Integer::intValue).min().orElse(0);
        int max = all.stream().mapToInt(Integer::intValue).max().orElse(0);
        int width = Math.max(1, (int) Math.ceil((max - min + 1) / (double) Math.max(1, bins)));
        int n = (max - min) / width + 1;
        List<String> names = new ArrayList<>();
        for (int b = 0; b < n; b++) {
            int lo = min + b * width;
            names.add(width == 1 ? String.valueOf(lo) : lo + "–" + (lo + width - 1));
        }
        CategoryChart chart = new CategoryChartBuilder().width(720).height(420)
                .title("Longer side of the images").xAxisTitle("longer side (px)").yAxisTitle("images").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        chart.getStyler().setXAxisLabelRotation(n > 6 ? 45 : 0);
        for (String l : labels()) {
            int[] counts = new int[n];
            imageInfos().stream().filter(i -> i.label().equals(l))
                    .forEach(i -> counts[(Math.max(i.width(), i.height()) - min) / width]++);
            chart.addSeries(l, names, java.util.Arrays.stream(counts).boxed().toList());
        }
        return chart;
    }

    /** {@code perClass} training images of each class (seeded random choice), one row per class, with file name and size. */
    public BufferedImage sampleGrid(int perClass, int tile, long seed) {
        List<List<Images.Tile>> rows = new ArrayList<>();
        List<String> rowLabels = new ArrayList<>();
        List<LabeledImage> pool = new ArrayList<>(images(TRAIN));
        pool.addAll(images(VALIDATION));
        for (String l : labels()) {
            List<LabeledImage> of = new ArrayList<>(pool.stream().filter(i -> i.label().equals(l)).toList());
            Collections.shuffle(of, new Random(seed));
            List<Images.Tile> row = new ArrayList<>();
            for (LabeledImage i : of.subList(0, Math.min(perClass, of.size()))) {
                BufferedImage img = Images.read(i.file());
                row.add(new Images.Tile(img, i.file().getFileName() + "\n" + img.getWidth() + " x " + img.getHeight() + " px"));
            }
            rows.add(row);
            rowLabels.add(l);
        }
        return Images.grid(rows, rowLabels, tile);
    }

    /** The first training image of a class (file order): a stable example for {@link #augmentationGrid}. */
    public Path example(String label) {
        return images(TRAIN).stream().filter(i -> i.label().equals(label)).map(LabeledImage::file)
                .sorted().findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no training image of class " + label));
    }

    /**
     * One image as training sees it: the original, the evaluation input (resize + centre crop) and
     * {@code copies} draws of the training augmentation ({@link AugmentationTransform} with this
     * overview's configuration: rotation, random resized crop, horizontal flip), each shown at
     * {@code tile} pixels.
     */
    public BufferedImage augmentationGrid(Path image, int copies, int tile, long seed) {
        int size = config.imageSize();
        ImageWritable original;
        try {
            original = new NativeImageLoader().asWritable(image.toFile());
        } catch (IOException e) {
            throw new UserError("cannot read image " + image + ": " + e.getMessage());
        }
        List<Images.Tile> first = new ArrayList<>();
        BufferedImage orig = Images.read(image);
        first.add(new Images.Tile(orig, "original\n" + orig.getWidth() + " x " + orig.getHeight() + " px"));
        int resizeTo = (int) Math.round(size * config.resizeRatio());
        Resampling filter = Resampling.of(config.resampling());
        first.add(new Images.Tile(Images.of(new CenterCropTransform(resizeTo, size, filter).transform(original)),
                "evaluation input\nresize " + resizeTo + " → crop " + size));
        AugmentationTransform aug = new AugmentationTransform(new Random(seed), size, config.rotationDegrees(),
                config.cropScaleMin(), config.flip(), filter, config.brightness(), config.contrast());
        List<Images.Tile> augmented = new ArrayList<>();
        for (int i = 1; i <= copies; i++) {
            augmented.add(new Images.Tile(Images.of(aug.transform(original)), "augmented #" + i + "\n" + size + " x " + size + " px"));
        }
        int perRow = Math.max(first.size(), 4);
        List<List<Images.Tile>> rows = new ArrayList<>();
        rows.add(first);
        for (int i = 0; i < augmented.size(); i += perRow) {
            rows.add(augmented.subList(i, Math.min(augmented.size(), i + perRow)));
        }
        return Images.grid(rows, null, tile);
    }

    /** The augmentation settings {@link #augmentationGrid} uses. */
    public Table augmentationSettings() {
        return new Table(List.of("setting", "value"), List.of(
                List.of("input size", config.imageSize() + " px"),
                List.of("rotation", "±" + Table.num(config.rotationDegrees(), 1) + "°"),
                List.of("random resized crop", "area " + Table.num(config.cropScaleMin(), 2) + "..1, aspect 3/4..4/3"),
                List.of("horizontal flip", config.flip() ? "p = 0.5" : "off"),
                List.of("brightness", config.brightness() > 0 ? "×" + Table.num(1 - config.brightness(), 2) + ".." + Table.num(1 + config.brightness(), 2) : "off"),
                List.of("contrast", config.contrast() > 0 ? "×" + Table.num(1 - config.contrast(), 2) + ".." + Table.num(1 + config.contrast(), 2) + " around the mean" : "off"),
                List.of("resampling", config.resampling()),
                List.of("used in training", config.augment() ? "yes" : "no (augment: false)")));
    }

    /** Width and height from the file header (ImageIO), or from a full decode by OpenCV when ImageIO has no reader. */
    static int[] size(Path file) {
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in != null) {
                Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
                if (readers.hasNext()) {
                    ImageReader r = readers.next();
                    try {
                        r.setInput(in, true, true);
                        return new int[]{r.getWidth(0), r.getHeight(0)};
                    } finally {
                        r.dispose();
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            // fall through
        }
        BufferedImage img = Images.read(file);
        return new int[]{img.getWidth(), img.getHeight()};
    }
}
