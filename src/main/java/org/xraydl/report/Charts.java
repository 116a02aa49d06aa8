package org.xraydl.report;

import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import com.fasterxml.jackson.databind.JsonNode;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.HeatMapChart;
import org.knowm.xchart.HeatMapChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.AtomicFiles;
import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.data.ClassLabels;
import org.xraydl.evaluate.Calibration;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * PNG charts of a run, drawn with XChart into the run directory: loss and accuracy per epoch
 * ({@value #LOSS_ACCURACY}, the paper's Fig 29), the validation ROC curve with its AUC ({@value #ROC})
 * and the validation confusion matrix ({@value #CONFUSION}). Everything can be drawn again from a
 * finished run's files with {@link #writeAll(Path)}.
 */
public final class Charts {
    private static final Logger log = LoggerFactory.getLogger(Charts.class);

    public static final String LOSS_ACCURACY = "loss_accuracy.png";
    public static final String ROC = "roc.png";
    public static final String CONFUSION = "confusion_matrix.png";
    public static final String RELIABILITY = "reliability.png";
    /** Every chart file name, in the order they are drawn. */
    public static final List<String> FILES = List.of(LOSS_ACCURACY, ROC, CONFUSION, RELIABILITY);

    public static final int WIDTH = 1000;
    public static final int HEIGHT = 640;

    private static final Color TRAIN_LOSS = new Color(31, 119, 180);
    private static final Color VAL_LOSS = new Color(255, 127, 14);
    private static final Color VAL_ACC = new Color(44, 160, 44);
    private static final Color CHANCE = new Color(128, 128, 128);

    private Charts() {
    }

    /**
     * Draws every chart whose inputs the run folder holds: {@value #LOSS_ACCURACY} from history.csv,
     * {@value #ROC} from val_predictions.csv, {@value #CONFUSION} from metrics.json (or, without it,
     * from val_predictions.csv). Existing charts are replaced.
     *
     * @return the chart files written
     * @throws UserError if the folder does not exist or holds none of those files
     */
    public static List<Path> writeAll(Path runDir) {
        if (!Files.isDirectory(runDir)) {
            throw new UserError("run folder not found: " + runDir);
        }
        Path history = runDir.resolve(RunDirectory.HISTORY);
        Path predictionsCsv = runDir.resolve(RunDirectory.PREDICTIONS);
        Path metricsJson = runDir.resolve(RunDirectory.METRICS);
        if (!Files.isRegularFile(history) && !Files.isRegularFile(predictionsCsv) && !Files.isRegularFile(metricsJson)) {
            throw new UserError("no charts can be drawn for " + runDir + ": it holds none of " + RunDirectory.HISTORY + ", "
                    + RunDirectory.PREDICTIONS + ", " + RunDirectory.METRICS + " (is it a run folder?)");
        }
        List<Path> written = new ArrayList<>();
        if (Files.isRegularFile(history)) {
            List<EpochRecord> records = RunDirectory.readHistory(history);
            if (!records.isEmpty()) {
                written.add(write(lossAccuracyChart(records), runDir.resolve(LOSS_ACCURACY)));
            }
        }
        JsonNode metrics = Files.isRegularFile(metricsJson) ? readJson(metricsJson) : null;
        Predictions predictions = Files.isRegularFile(predictionsCsv) ? RunDirectory.readPredictions(predictionsCsv) : null;
        if (predictions != null && predictions.size() > 0) {
            // The AUC printed on the chart is the one in metrics.json (the CSV of an older run has 6-decimal scores).
            double auc = metrics != null && metrics.hasNonNull("auc") && metrics.get("auc").isNumber()
                    ? metrics.get("auc").asDouble() : MetricsCalculator.compute(predictions, ClassLabels.POSITIVE).auc();
            XYChart roc = rocChart(predictions, ClassLabels.POSITIVE, auc);
            JsonNode op = metrics == null ? null : metrics.get("operating_point");
            if (op != null && op.hasNonNull("sensitivity") && op.hasNonNull("specificity") && op.hasNonNull("threshold")) {
                markOperatingPoint(roc, 1 - op.get("specificity").asDouble(), op.get("sensitivity").asDouble(),
                        op.get("threshold").asDouble(), op.path("method").asText(""));
            }
            written.add(write(roc, runDir.resolve(ROC)));
        }
        Confusion confusion = confusionOf(metrics);
        if (confusion == null && predictions != null && predictions.size() > 0) {
            confusion = confusionOf(predictions);
        }
        if (confusion != null) {
            written.add(write(confusionChart(confusion.labels(), confusion.counts()), runDir.resolve(CONFUSION)));
        }
        if (predictions != null && predictions.size() > 0) {
            JsonNode op = metrics == null ? null : metrics.get("operating_point");
            double temperature = op != null && op.hasNonNull("temperature") ? op.get("temperature").asDouble() : 1.0;
            written.add(write(reliabilityChart(predictions, ClassLabels.POSITIVE, temperature), runDir.resolve(RELIABILITY)));
        }
        return written;
    }

    /** A confusion matrix: {@code counts[t][q]} images of true class {@code t} predicted as {@code q}, both in label order. */
    public record Confusion(List<String> labels, int[][] counts) {
    }

    /** The confusion matrix a metrics.json holds, or null when it holds none (no file, or no labels/confusion in it). */
    public static Confusion confusionOf(JsonNode metrics) {
        if (metrics == null || !metrics.has("confusion") || !metrics.has("labels")) {
            return null;
        }
        List<String> labels = new ArrayList<>();
        metrics.get("labels").forEach(n -> labels.add(n.asText()));
        int k = labels.size();
        int[][] counts = new int[k][k];
        for (int t = 0; t < k; t++) {
            for (int q = 0; q < k; q++) {
                counts[t][q] = metrics.get("confusion").get(t).get(q).asInt();
            }
        }
        return new Confusion(labels, counts);
    }

    /** The confusion matrix of predictions, as {@link MetricsCalculator} counts it. */
    public static Confusion confusionOf(Predictions predictions) {
        Metrics m = MetricsCalculator.compute(predictions, ClassLabels.POSITIVE);
        return new Confusion(m.labels(), m.confusion());
    }

    /**
     * The charts during training, after each epoch: loss and accuracy so far, and (when {@code best}
     * is given) ROC and confusion matrix of the best model so far. Never throws: a chart that cannot be
     * drawn is logged and training goes on.
     */
    public static void writeEpoch(Path runDir, List<EpochRecord> history, Predictions best) {
        try {
            if (!history.isEmpty()) {
                write(lossAccuracyChart(history), runDir.resolve(LOSS_ACCURACY));
            }
            if (best != null && best.size() > 0) {
                write(rocChart(best, ClassLabels.POSITIVE), runDir.resolve(ROC));
                Confusion c = confusionOf(best);
                write(confusionChart(c.labels(), c.counts()), runDir.resolve(CONFUSION));
            }
        } catch (RuntimeException e) {
            log.warn("could not draw the charts in {}: {}", runDir, e.toString());
        }
    }

    /** {@link #writeAll(Path)} for the end of a training run: failures are logged, never thrown. */
    public static List<Path> writeAllQuietly(Path runDir) {
        try {
            return writeAll(runDir);
        } catch (RuntimeException e) {
            log.warn("could not draw the charts in {}: {}", runDir, e.toString());
            return List.of();
        }
    }

    /** Train and validation loss (left axis) and validation accuracy in % (right axis) per epoch. */
    public static XYChart lossAccuracyChart(List<EpochRecord> history) {
        int n = history.size();
        double[] epochs = new double[n];
        double[] trainLoss = new double[n];
        double[] valLoss = new double[n];
        double[] valAcc = new double[n];
        for (int i = 0; i < n; i++) {
            EpochRecord r = history.get(i);
            epochs[i] = r.epoch();
            trainLoss[i] = finiteOrNaN(r.trainLoss());
            valLoss[i] = finiteOrNaN(r.valLoss());
            valAcc[i] = finiteOrNaN(100.0 * r.valAccuracy());
        }
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT)
                .title("Training and validation loss, validation accuracy per epoch")
                .xAxisTitle("Epoch").yAxisTitle("Loss (mean cross-entropy, nats)").build();
        Styler styler = chart.getStyler();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS);
        chart.getStyler().setLegendLayout(Styler.LegendLayout.Horizontal);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setPlotBackgroundColor(Color.WHITE);
        chart.getStyler().setMarkerSize(8);
        styler.setYAxisGroupPosition(1, Styler.YAxisPosition.Right);
        chart.setYAxisGroupTitle(0, "Loss (mean cross-entropy, nats)");
        chart.setYAxisGroupTitle(1, "Validation accuracy (%)");
        chart.getStyler().setYAxisMin(0, 0.0);
        chart.getStyler().setYAxisMin(1, 0.0);
        chart.getStyler().setYAxisMax(1, 100.0);
        chart.getStyler().setYAxisDecimalPattern("0.##");
        double firstEpoch = n == 0 ? 0 : epochs[0];
        double lastEpoch = n == 0 ? 1 : epochs[n - 1];
        // Epochs are whole numbers: whole-number ends, and only whole-number ticks get a label (XChart
        // widens the tick step until all labels differ, so the blank half-steps go away).
        chart.getStyler().setXAxisMin(firstEpoch - 1);
        chart.getStyler().setXAxisMax(lastEpoch + 1);
        chart.setCustomXAxisTickLabelsFormatter(x -> Math.abs(x - Math.rint(x)) < 1e-6 ? String.valueOf(Math.round(x)) : "");
        addLine(chart, "Training loss", epochs, trainLoss, TRAIN_LOSS, SeriesMarkers.CIRCLE, 0);
        addLine(chart, "Validation loss", epochs, valLoss, VAL_LOSS, SeriesMarkers.DIAMOND, 0);
        addLine(chart, "Validation accuracy (%)", epochs, valAcc, VAL_ACC, SeriesMarkers.SQUARE, 1);
        return chart;
    }

    /** ROC curve of {@code positive} (the project's: {@link ClassLabels#POSITIVE}) with the chance diagonal; the legend gives the AUC. */
    public static XYChart rocChart(Predictions p, String positive) {
        return rocChart(p, positive, MetricsCalculator.compute(p, positive).auc());
    }

    /** ROC curve with a given AUC in the legend (the run's metrics.json value). */
    public static XYChart rocChart(Predictions p, String positive, double auc) {
        double[][] curve = MetricsCalculator.rocCurve(p, positive);
        List<double[]> points = new ArrayList<>();
        for (int i = 0; i < curve[0].length; i++) {
            if (Double.isFinite(curve[0][i]) && Double.isFinite(curve[1][i])) {
                points.add(new double[]{curve[0][i], curve[1][i]});
            }
        }
        double[] fpr = points.stream().mapToDouble(a -> a[0]).toArray();
        double[] tpr = points.stream().mapToDouble(a -> a[1]).toArray();
        String aucText = Double.isNaN(auc) ? "AUC undefined: only one class present" : String.format(Locale.ROOT, "AUC = %.3f", auc);
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT)
                .title(String.format(Locale.ROOT, "ROC curve, validation set (n = %d, positive class %s)", p.size(), positive))
                .xAxisTitle("False positive rate (1 - specificity)")
                .yAxisTitle("True positive rate (sensitivity)").build();
        Styler styler = chart.getStyler();
        styler.setLegendPosition(Styler.LegendPosition.InsideSE);
        styler.setChartBackgroundColor(Color.WHITE);
        styler.setPlotBackgroundColor(Color.WHITE);
        chart.getStyler().setXAxisMin(0.0);
        chart.getStyler().setXAxisMax(1.0);
        chart.getStyler().setYAxisMin(0.0);
        chart.getStyler().setYAxisMax(1.0);
        chart.getStyler().setXAxisDecimalPattern("0.0");
        chart.getStyler().setYAxisDecimalPattern("0.0");
        XYSeries chance = chart.addSeries("Chance (AUC = 0.5)", new double[]{0, 1}, new double[]{0, 1});
        chance.setMarker(SeriesMarkers.NONE);
        chance.setLineColor(CHANCE);
        chance.setLineStyle(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{6f, 6f}, 0f));
        if (fpr.length > 0) {
            XYSeries model = chart.addSeries("Model (" + aucText + ")", fpr, tpr);
            model.setMarker(SeriesMarkers.NONE);
            model.setLineColor(TRAIN_LOSS);
            model.setLineWidth(2.5f);
        }
        return chart;
    }

    /**
     * Reliability diagram of the positive-class probability ({@link Calibration#BINS} equal-width bins):
     * observed fraction of positives against mean predicted probability per non-empty bin, with the
     * diagonal of perfect calibration and the ECE in the legend; with a temperature other than 1 also the
     * temperature-scaled probabilities.
     */
    public static XYChart reliabilityChart(Predictions p, String pos, double temperature) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT)
                .title(String.format(Locale.ROOT, "Reliability diagram (n = %d, positive class %s, %d bins)", p.size(), pos, Calibration.BINS))
                .xAxisTitle("Mean predicted probability of " + pos + " in the bin")
                .yAxisTitle("Observed fraction of " + pos + " in the bin").build();
        var styler = chart.getStyler();
        styler.setLegendPosition(Styler.LegendPosition.InsideNW);
        styler.setChartBackgroundColor(Color.WHITE);
        styler.setPlotBackgroundColor(Color.WHITE);
        styler.setXAxisMin(0.0);
        styler.setXAxisMax(1.0);
        styler.setYAxisMin(0.0);
        styler.setYAxisMax(1.0);
        styler.setXAxisDecimalPattern("0.0");
        styler.setYAxisDecimalPattern("0.0");
        XYSeries perfect = chart.addSeries("Perfect calibration", new double[]{0, 1}, new double[]{0, 1});
        perfect.setMarker(SeriesMarkers.NONE);
        perfect.setLineColor(CHANCE);
        perfect.setLineStyle(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{6f, 6f}, 0f));
        addReliability(chart, "Model", p, pos, TRAIN_LOSS, SeriesMarkers.CIRCLE);
        if (temperature != 1.0) {
            addReliability(chart, String.format(Locale.ROOT, "Temperature %.2f", temperature),
                    Calibration.scale(p, temperature), pos, VAL_LOSS, SeriesMarkers.DIAMOND);
        }
        return chart;
    }

    private static void addReliability(XYChart chart, String name, Predictions p, String pos, Color color,
                                       org.knowm.xchart.style.markers.Marker marker) {
        int k = p.labels().indexOf(pos);
        double[] scores = Calibration.scores(p, k);
        boolean[] positive = Calibration.isPositive(p, k);
        List<double[]> points = new ArrayList<>();
        for (Calibration.Bin b : Calibration.reliability(scores, positive, Calibration.BINS)) {
            if (b.count() > 0) {
                points.add(new double[]{b.meanProbability(), b.positiveFraction()});
            }
        }
        if (points.isEmpty()) {
            return;
        }
        XYSeries s = chart.addSeries(String.format(Locale.ROOT, "%s (ECE = %.3f)", name, Calibration.ece(scores, positive)),
                points.stream().mapToDouble(a -> a[0]).toArray(), points.stream().mapToDouble(a -> a[1]).toArray());
        s.setLineColor(color);
        s.setMarkerColor(color);
        s.setMarker(marker);
        s.setLineWidth(2.5f);
    }

    /** Marks the stored operating point (its validation false positive and true positive rate) on a ROC chart. */
    public static void markOperatingPoint(XYChart roc, double fpr, double tpr, double threshold, String method) {
        XYSeries s = roc.addSeries(String.format(Locale.ROOT, "Operating point (%sthreshold %.3f: sensitivity %.3f, specificity %.3f)",
                method.isEmpty() ? "" : method + " ", threshold, tpr, 1 - fpr), new double[]{fpr}, new double[]{tpr});
        s.setMarker(SeriesMarkers.DIAMOND);
        s.setMarkerColor(VAL_LOSS);
        s.setLineColor(VAL_LOSS);
    }

    /** Confusion matrix: columns the predicted class, rows the true class, cells the image counts. */
    public static HeatMapChart confusionChart(List<String> labels, int[][] confusion) {
        int k = labels.size();
        int total = 0;
        int correct = 0;
        int max = 1;
        List<Number[]> cells = new ArrayList<>();
        for (int t = 0; t < k; t++) {
            for (int q = 0; q < k; q++) {
                int c = confusion[t][q];
                total += c;
                if (t == q) {
                    correct += c;
                }
                max = Math.max(max, c);
                // Rows from the top in label order: heat map y grows upwards, so the first label goes last.
                cells.add(new Number[]{q, k - 1 - t, c});
            }
        }
        List<String> yLabels = new ArrayList<>(labels);
        java.util.Collections.reverse(yLabels);
        String acc = total == 0 ? "n/a" : String.format(Locale.ROOT, "%.1f%%", 100.0 * correct / total);
        HeatMapChart chart = new HeatMapChartBuilder().width(760).height(HEIGHT)
                .title("Confusion matrix, validation set: images per cell (n = " + total + ", accuracy " + acc + ")")
                .xAxisTitle("Predicted class (highest probability)").yAxisTitle("True class").build();
        chart.getStyler().setShowValue(true);
        chart.getStyler().setHeatMapValueDecimalPattern("0");
        chart.getStyler().setMin(0);
        chart.getStyler().setMax(max);
        chart.getStyler().setRangeColors(new Color[]{new Color(247, 251, 255), new Color(158, 202, 225), new Color(66, 146, 198)});
        chart.getStyler().setValueFontColor(Color.BLACK);
        chart.getStyler().setValueFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.BOLD, 22));
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setPlotBackgroundColor(Color.WHITE);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        chart.getStyler().setLegendVisible(true);
        chart.addSeries("Images", labels, yLabels, cells);
        return chart;
    }

    /** Writes a chart as PNG through a temp file, so a reader never sees half a picture. */
    public static Path write(Chart<?, ?> chart, Path file) {
        try {
            AtomicFiles.write(file, tmp -> {
                try (OutputStream out = Files.newOutputStream(tmp)) {
                    BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
                }
            });
        } catch (IOException e) {
            throw new UserError("cannot write " + file + ": " + e.getMessage());
        }
        return file;
    }

    private static JsonNode readJson(Path file) {
        try {
            return ConfigLoader.JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UserError("cannot read " + file + ": " + e.getMessage());
        }
    }

    private static void addLine(XYChart chart, String name, double[] x, double[] y, Color color,
                                org.knowm.xchart.style.markers.Marker marker, int axisGroup) {
        XYSeries s = chart.addSeries(name, x, y);
        s.setLineColor(color);
        s.setMarkerColor(color);
        s.setMarker(marker);
        s.setLineWidth(2.5f);
        s.setYAxisGroup(axisGroup);
    }

    private static double finiteOrNaN(double v) {
        return Double.isFinite(v) ? v : Double.NaN;
    }
}
