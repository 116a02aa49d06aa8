package org.xraydl.bench;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.xraydl.AtomicFiles;
import org.xraydl.UserError;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** The benchmark's PNG charts (XChart), written atomically. */
public final class BenchCharts {

    private BenchCharts() {
    }

    /** Grouped bars: one group per model@size, one bar per step, images/s on a log axis. */
    public static void matrix(List<BenchResult> results, String subtitle, Path png) {
        Set<String> groups = new LinkedHashSet<>();
        Set<String> steps = new LinkedHashSet<>();
        for (BenchResult r : results) {
            groups.add(r.model() + " @" + r.size());
            steps.add(r.step());
        }
        CategoryChart chart = new CategoryChartBuilder().width(1100).height(600)
                .title("DL4J images/s (batch " + (results.isEmpty() ? "?" : results.get(0).batch()) + ", log scale) " + subtitle)
                .xAxisTitle("model @ input size").yAxisTitle("images / s").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
        chart.getStyler().setYAxisLogarithmic(true);
        chart.getStyler().setLabelsVisible(true);
        chart.getStyler().setLabelsFontColorAutomaticEnabled(false);
        chart.getStyler().setYAxisDecimalPattern("#,##0.##");
        boolean any = false;
        for (String step : steps) {
            List<String> xs = new ArrayList<>(groups);
            List<Number> ys = new ArrayList<>();
            for (String g : groups) {
                ys.add(results.stream()
                        .filter(r -> r.ok() && r.step().equals(step) && (r.model() + " @" + r.size()).equals(g) && r.imgPerS() > 0)
                        .map(r -> (Number) r.imgPerS()).findFirst().orElse(null));
            }
            if (ys.stream().anyMatch(y -> y != null)) {
                chart.addSeries(step, xs, ys);
                any = true;
            }
        }
        double min = results.stream().filter(r -> r.ok() && r.imgPerS() > 0).mapToDouble(BenchResult::imgPerS).min().orElse(1);
        // bar charts start the axis at 0 unless told otherwise, which a log axis refuses
        chart.getStyler().setYAxisMin(Math.pow(10, Math.floor(Math.log10(min))));
        if (!any) {
            chart.getStyler().setYAxisLogarithmic(false);
            chart.getStyler().setYAxisMin(0.0);
            chart.addSeries("no successful cell", List.of("none"), List.of(0));
        }
        save(chart, png);
    }

    /** Training time of the same epoch against the number of ParallelWrapper workers. */
    public static void workers(List<WorkersBenchmark.Point> points, String title, Path png) {
        XYChart chart = new XYChartBuilder().width(800).height(500).title(title)
                .xAxisTitle("workers (ParallelWrapper replicas; 1 = plain fit)").yAxisTitle("seconds per epoch").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        chart.getStyler().setXAxisDecimalPattern("0");
        List<Double> x = new ArrayList<>();
        List<Double> y = new ArrayList<>();
        for (WorkersBenchmark.Point p : points) {
            x.add((double) p.workers());
            y.add(p.secondsPerEpoch());
        }
        chart.addSeries("measured", x, y);
        if (!points.isEmpty()) {
            List<Double> ideal = new ArrayList<>();
            for (WorkersBenchmark.Point p : points) {
                ideal.add(points.get(0).secondsPerEpoch() / p.workers());
            }
            chart.addSeries("ideal linear scaling", x, ideal);
        }
        save(chart, png);
    }

    /** Milliseconds per batch by backend (CPU, GPU), per workload. */
    public static void devices(List<BenchResult> results, String title, Path png) {
        Set<String> workloads = new LinkedHashSet<>();
        Set<String> backends = new LinkedHashSet<>();
        for (BenchResult r : results) {
            workloads.add(r.model() + "@" + r.size() + " " + r.step());
            backends.add(r.backend());
        }
        CategoryChart chart = new CategoryChartBuilder().width(900).height(500).title(title)
                .xAxisTitle("workload (batch " + (results.isEmpty() ? "?" : results.get(0).batch()) + ")")
                .yAxisTitle("ms per batch").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        boolean any = false;
        for (String b : backends) {
            List<String> xs = new ArrayList<>(workloads);
            List<Number> ys = new ArrayList<>();
            for (String wl : workloads) {
                ys.add(results.stream().filter(r -> r.ok() && r.backend().equals(b)
                                && (r.model() + "@" + r.size() + " " + r.step()).equals(wl))
                        .map(r -> (Number) r.msPerBatch()).findFirst().orElse(null));
            }
            if (ys.stream().anyMatch(y -> y != null)) {
                chart.addSeries(b, xs, ys);
                any = true;
            }
        }
        if (!any) {
            chart.addSeries("no successful run", List.of("none"), List.of(0));
        }
        save(chart, png);
    }

    static void save(Chart<?, ?> chart, Path png) {
        try {
            AtomicFiles.write(png, tmp -> {
                try (OutputStream out = Files.newOutputStream(tmp)) {
                    BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
                }
            });
        } catch (IOException e) {
            throw new UserError("cannot write " + png + ": " + e.getMessage());
        }
    }
}
