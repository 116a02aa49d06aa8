package org.xraydl.explore;


import com.fasterxml.jackson.databind.JsonNode;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.data.ClassLabels;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A finished (or running) training run read from its folder: history.csv, metrics.json,
 * val_predictions.csv, config.yaml, provenance.json. Charts come from the run's own PNGs when
 * training wrote them ({@value #LOSS_ACCURACY_PNG}, {@value #ROC_PNG}, {@value #CONFUSION_PNG}) and
 * are at least as new as the data they show; otherwise they are drawn here from the files.
 */
public final class RunExplorer {
    public static final String LOSS_ACCURACY_PNG = "loss_accuracy.png";
    public static final String ROC_PNG = "roc.png";
    public static final String CONFUSION_PNG = "confusion_matrix.png";

    /** A validation image the best model got wrong, with the probability it gave its (wrong) answer. */
    public record Misclassified(Path file, String trueLabel, String predicted, double confidence) {
    }

    private final Path dir;
    private final List<String> notes = new ArrayList<>();
    private Predictions predictions;

    private RunExplorer(Path dir) {
        this.dir = dir;
    }

    public static RunExplorer open(Path runDir) {
        if (!Files.isRegularFile(runDir.resolve(RunDirectory.HISTORY))) {
            throw new UserError("not a run folder: " + runDir + " (no " + RunDirectory.HISTORY + ")");
        }
        return new RunExplorer(runDir.toAbsolutePath().normalize());
    }

    public Path dir() {
        return dir;
    }

    public List<EpochRecord> history() {
        return RunDirectory.readHistory(dir.resolve(RunDirectory.HISTORY));
    }

    /** The run's configuration snapshot as key → value (as written, so newer keys never fail to load). */
    @SuppressWarnings("unchecked")
    public Map<String, Object> config() {
        Path yaml = dir.resolve(RunDirectory.CONFIG);
        if (!Files.isRegularFile(yaml)) {
            return Map.of();
        }
        try {
            return ConfigLoader.YAML.readValue(yaml.toFile(), LinkedHashMap.class);
        } catch (IOException e) {
            throw new UserError("cannot read " + yaml + ": " + e.getMessage());
        }
    }

    /** A few facts of the run: model, image size, batch, epochs, workers, engine, best epoch. */
    public Table summary() {
        Map<String, Object> c = config();
        JsonNode prov = json(RunDirectory.PROVENANCE);
        List<List<String>> rows = new ArrayList<>();
        rows.add(List.of("run folder", dir.toString()));
        for (String k : List.of("model", "weights", "imageSize", "batchSize", "epochs", "learningRate", "workers", "augment", "classWeights", "seed")) {
            if (c.containsKey(k)) {
                rows.add(List.of(k, String.valueOf(c.get(k))));
            }
        }
        if (prov != null) {
            for (String k : List.of("engine", "epochsCompleted", "bestEpoch")) {
                if (prov.hasNonNull(k)) {
                    rows.add(List.of(k, prov.get(k).asText()));
                }
            }
        }
        return new Table(List.of("key", "value"), rows);
    }

    public Table historyTable() {
        List<List<String>> rows = new ArrayList<>();
        for (EpochRecord r : history()) {
            rows.add(List.of(String.valueOf(r.epoch()), Table.num(r.trainLoss(), 4), Table.num(r.valLoss(), 4),
                    Table.num(r.valAccuracy(), 4), Table.num(r.valAuc(), 4), Table.num(r.valSensitivity(), 4),
                    Table.num(r.valSpecificity(), 4), Table.num(r.seconds(), 1), Table.num(r.imagesPerSecond(), 1)));
        }
        return new Table(List.of("epoch", "train loss", "val loss", "val accuracy", "val AUC", "val sensitivity",
                "val specificity", "seconds", "img/s"), rows);
    }

    /** Validation metrics of the best model (metrics.json, else computed from val_predictions.csv). */
    public Table metricsTable() {
        JsonNode m = json(RunDirectory.METRICS);
        List<List<String>> rows = new ArrayList<>();
        if (m != null) {
            for (String k : List.of("n", "accuracy", "sensitivity", "specificity", "precision", "f1", "auc", "loss")) {
                if (m.has(k)) {
                    rows.add(List.of(k, m.get(k).isNumber() ? Table.num(m.get(k).asDouble(), 4) : m.get(k).asText()));
                }
            }
        } else {
            Metrics x = MetricsCalculator.compute(predictions(), positive());
            rows.add(List.of("n", String.valueOf(x.n())));
            rows.add(List.of("accuracy", Table.num(x.accuracy(), 4)));
            rows.add(List.of("sensitivity", Table.num(x.sensitivity(), 4)));
            rows.add(List.of("specificity", Table.num(x.specificity(), 4)));
            rows.add(List.of("precision", Table.num(x.precision(), 4)));
            rows.add(List.of("f1", Table.num(x.f1(), 4)));
            rows.add(List.of("auc", Table.num(x.auc(), 4)));
        }
        return new Table(List.of("metric", "value"), rows);
    }

    /** Train and validation loss (left axis), validation accuracy and AUC (right axis) per epoch. */
    public XYChart lossAccuracyChart() {
        List<EpochRecord> h = history();
        XYChart chart = new XYChartBuilder().width(900).height(500)
                .title("Loss and accuracy per epoch: " + dir.getFileName()).xAxisTitle("epoch").yAxisTitle("loss").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.getStyler().setXAxisDecimalPattern("#0");
        chart.setYAxisGroupTitle(1, "accuracy / AUC");
        chart.getStyler().setYAxisGroupPosition(1, Styler.YAxisPosition.Right);
        List<Integer> epochs = h.stream().map(EpochRecord::epoch).toList();
        if (epochs.isEmpty()) {
            throw new UserError("history.csv of " + dir + " has no epoch yet");
        }
        series(chart, "train loss", epochs, h.stream().map(EpochRecord::trainLoss).toList(), 0, new Color(31, 119, 180));
        series(chart, "validation loss", epochs, h.stream().map(EpochRecord::valLoss).toList(), 0, new Color(255, 127, 14));
        series(chart, "validation accuracy", epochs, h.stream().map(EpochRecord::valAccuracy).toList(), 1, new Color(44, 160, 44));
        series(chart, "validation AUC", epochs, h.stream().map(EpochRecord::valAuc).toList(), 1, new Color(148, 103, 189));
        return chart;
    }

    private static void series(XYChart chart, String name, List<Integer> x, List<Double> y, int axis, Color color) {
        List<Double> clean = y.stream().map(v -> Double.isFinite(v) ? v : null).toList();
        if (clean.stream().allMatch(v -> v == null)) {
            return;
        }
        XYSeries s = chart.addSeries(name, x, clean);
        s.setYAxisGroup(axis);
        s.setLineColor(color);
        s.setMarkerColor(color);
        s.setMarker(SeriesMarkers.CIRCLE);
    }

    /** Loss and accuracy curves: the run's {@value #LOSS_ACCURACY_PNG} when current, else {@link #lossAccuracyChart()}. */
    public BufferedImage lossAccuracy() {
        return pngOrDraw(LOSS_ACCURACY_PNG, RunDirectory.HISTORY, () -> Images.of(lossAccuracyChart()));
    }

    /** The validation predictions of the best model (val_predictions.csv). */
    public synchronized Predictions predictions() {
        if (predictions == null) {
            predictions = RunDirectory.readPredictions(dir.resolve(RunDirectory.PREDICTIONS));
        }
        return predictions;
    }

    /** The positive class of the metrics and the ROC curve: the project's one, {@link ClassLabels#POSITIVE}. */
    public String positive() {
        return ClassLabels.POSITIVE;
    }

    /** ROC curve of the validation predictions (DL4J's exact ROC through {@link MetricsCalculator}) with the chance line. */
    public XYChart rocChart() {
        Predictions p = predictions();
        String pos = positive();
        double[][] curve = MetricsCalculator.rocCurve(p, pos);
        double auc = MetricsCalculator.compute(p, pos).auc();
        XYChart chart = new XYChartBuilder().width(600).height(560)
                .title(String.format(Locale.ROOT, "Validation ROC (%s positive), AUC = %s", pos, Table.num(auc, 3)))
                .xAxisTitle("false positive rate (1 - specificity)").yAxisTitle("true positive rate (sensitivity)").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        chart.getStyler().setXAxisMin(0.0).setXAxisMax(1.0).setYAxisMin(0.0).setYAxisMax(1.0);
        XYSeries s = chart.addSeries("ROC (n = " + p.size() + ")", curve[0], curve[1]);
        s.setMarker(SeriesMarkers.NONE);
        s.setLineColor(new Color(31, 119, 180));
        XYSeries chance = chart.addSeries("chance", new double[]{0, 1}, new double[]{0, 1});
        chance.setMarker(SeriesMarkers.NONE);
        chance.setLineColor(Color.GRAY);
        return chart;
    }

    /** ROC: the run's {@value #ROC_PNG} when current, else {@link #rocChart()}. */
    public BufferedImage roc() {
        return pngOrDraw(ROC_PNG, RunDirectory.PREDICTIONS, () -> Images.of(rocChart()));
    }

    /** Confusion matrix, rows = true class, columns = predicted (metrics.json, else from the predictions). */
    public int[][] confusion() {
        JsonNode m = json(RunDirectory.METRICS);
        if (m != null && m.has("confusion")) {
            int k = m.get("confusion").size();
            int[][] c = new int[k][k];
            for (int t = 0; t < k; t++) {
                for (int q = 0; q < k; q++) {
                    c[t][q] = m.get("confusion").get(t).get(q).asInt();
                }
            }
            return c;
        }
        return MetricsCalculator.compute(predictions(), positive()).confusion();
    }

    /** Class labels in index order (labels.txt, else the predictions' header). */
    public List<String> labels() {
        Path f = dir.resolve(RunDirectory.LABELS);
        try {
            if (Files.isRegularFile(f)) {
                return Files.readAllLines(f).stream().filter(s -> !s.isBlank()).map(String::strip).toList();
            }
        } catch (IOException e) {
            // fall through
        }
        return predictions().labels();
    }

    /** The confusion matrix drawn as a grid of counts, shaded by the share of each true class. */
    public BufferedImage confusionMatrixDrawn() {
        return drawConfusion(labels(), confusion(), "Validation confusion matrix: " + dir.getFileName());
    }

    /** Confusion matrix: the run's {@value #CONFUSION_PNG} when current, else {@link #confusionMatrixDrawn()}. */
    public BufferedImage confusionMatrix() {
        String source = Files.isRegularFile(dir.resolve(RunDirectory.METRICS)) ? RunDirectory.METRICS : RunDirectory.PREDICTIONS;
        return pngOrDraw(CONFUSION_PNG, source, this::confusionMatrixDrawn);
    }

    /** Validation images whose predicted class is wrong, the most confident mistakes first. */
    public List<Misclassified> misclassified() {
        Predictions p = predictions();
        List<Misclassified> out = new ArrayList<>();
        for (int i = 0; i < p.size(); i++) {
            int pred = p.predictedClass(i);
            if (pred != p.trueClass()[i]) {
                out.add(new Misclassified(Path.of(p.files().get(i)), p.labels().get(p.trueClass()[i]), p.labels().get(pred),
                        p.probabilities()[i][pred]));
            }
        }
        out.sort(Comparator.comparingDouble(Misclassified::confidence).reversed().thenComparing(m -> m.file().toString()));
        return out;
    }

    public Table misclassifiedTable(int max) {
        List<List<String>> rows = new ArrayList<>();
        for (Misclassified m : misclassified().subList(0, Math.min(max, misclassified().size()))) {
            rows.add(List.of(m.file().getFileName().toString(), m.trueLabel(), m.predicted(), Table.num(m.confidence(), 3)));
        }
        return new Table(List.of("file", "true class", "predicted", "confidence"), rows);
    }

    /** The {@code max} most confident mistakes as images, captioned with true → predicted class and confidence. */
    public BufferedImage misclassifiedGrid(int max, int columns, int tile) {
        List<Misclassified> all = misclassified();
        int n = Math.min(max, all.size());
        if (n == 0) {
            return Images.message("No misclassified validation images in " + dir.getFileName()
                    + " (" + predictions().size() + " predictions).", 700);
        }
        List<List<Images.Tile>> rows = new ArrayList<>();
        for (int i = 0; i < n; i += columns) {
            List<Images.Tile> row = new ArrayList<>();
            for (Misclassified m : all.subList(i, Math.min(n, i + columns))) {
                BufferedImage img = Files.isRegularFile(m.file()) ? Images.read(m.file()) : null;
                row.add(new Images.Tile(img, String.format(Locale.ROOT, "true %s → %s\nconfidence %.3f\n%s",
                        m.trueLabel(), m.predicted(), m.confidence(), img == null ? "(file missing) " + m.file().getFileName() : m.file().getFileName())));
            }
            rows.add(row);
        }
        return Images.grid(rows, null, tile);
    }

    /** Which charts were taken from the run's PNG files and which were drawn here, so far. */
    public List<String> notes() {
        return List.copyOf(notes);
    }

    private BufferedImage pngOrDraw(String png, String source, Supplier<BufferedImage> draw) {
        Path f = dir.resolve(png);
        Path src = dir.resolve(source);
        if (Files.isRegularFile(f) && Explore.modified(f).compareTo(Explore.modified(src)) >= 0) {
            try {
                BufferedImage img = ImageIO.read(f.toFile());
                if (img != null) {
                    notes.add(png + ": the run's own file");
                    return img;
                }
            } catch (IOException e) {
                // draw it instead
            }
        }
        notes.add(png + ": drawn from " + source + (Files.isRegularFile(f) ? " (the run's file is older than " + source + ")" : ""));
        return draw.get();
    }

    private JsonNode json(String name) {
        Path f = dir.resolve(name);
        if (!Files.isRegularFile(f)) {
            return null;
        }
        try {
            return ConfigLoader.JSON.readTree(f.toFile());
        } catch (IOException e) {
            throw new UserError("cannot read " + f + ": " + e.getMessage());
        }
    }

    static BufferedImage drawConfusion(List<String> labels, int[][] c, String title) {
        int k = labels.size();
        int cell = 140;
        int left = 170;
        int top = 90;
        int width = left + k * cell + 40;
        int height = top + k * cell + 70;
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = Images.graphics(img);
        g.setColor(Images.TEXT);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString(Images.fit(title, g.getFontMetrics(), width - 20), 10, 24);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        g.drawString("predicted class →", left, top - 38);
        g.drawString("true class ↓", 10, top - 12);
        int total = 0;
        for (int[] row : c) {
            for (int v : row) {
                total += v;
            }
        }
        for (int t = 0; t < k; t++) {
            int rowSum = 0;
            for (int v : c[t]) {
                rowSum += v;
            }
            g.setColor(Images.TEXT);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
            g.drawString(labels.get(t), 10, top + t * cell + cell / 2 + 5);
            g.drawString(Images.fit(labels.get(t), g.getFontMetrics(), cell - 6), left + t * cell + 6, top - 10);
            for (int q = 0; q < k; q++) {
                double share = rowSum == 0 ? 0 : c[t][q] / (double) rowSum;
                boolean right = t == q;
                Color base = right ? new Color(44, 160, 44) : new Color(214, 39, 40);
                g.setColor(mix(Color.WHITE, base, 0.15 + 0.75 * share));
                int x = left + q * cell;
                int y = top + t * cell;
                g.fillRect(x, y, cell - 2, cell - 2);
                g.setColor(share > 0.55 ? Color.WHITE : Images.TEXT);
                g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 26));
                centre(g, String.valueOf(c[t][q]), x, y + cell / 2 - 4, cell);
                g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
                centre(g, String.format(Locale.ROOT, "%.1f %% of the row", 100 * share), x, y + cell / 2 + 22, cell);
            }
        }
        g.setColor(Images.TEXT);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        g.drawString("n = " + total, left, top + k * cell + 24);
        g.dispose();
        return img;
    }

    private static void centre(Graphics2D g, String s, int x, int y, int width) {
        FontMetrics fm = g.getFontMetrics();
        String t = Images.fit(s, fm, width - 6);
        g.drawString(t, x + (width - fm.stringWidth(t)) / 2, y);
    }

    private static Color mix(Color a, Color b, double f) {
        return new Color((int) (a.getRed() + (b.getRed() - a.getRed()) * f), (int) (a.getGreen() + (b.getGreen() - a.getGreen()) * f),
                (int) (a.getBlue() + (b.getBlue() - a.getBlue()) * f));
    }
}
