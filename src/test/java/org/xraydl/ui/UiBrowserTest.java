package org.xraydl.ui;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.xraydl.Browsers;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.report.Charts;
import org.xraydl.train.Trainer;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real headless Chromium opens the DL4J UI's /train/overview while a short training is held
 * after its third iteration, and checks that the score chart (a flot plot on a canvas) holds the
 * scores and draws them. Screenshots go to target/ui-browser/. Skipped only when chromium or
 * chromedriver is not installed (Debian: apt-get install chromium chromium-driver).
 */
class UiBrowserTest {
    static final Path SHOTS = Path.of("target", "ui-browser");
    /** Training waits in iterationDone of this iteration (0-based) until the browser has looked. */
    static final int HOLD_AT_ITERATION = 2;

    /** The score chart as the page holds it: flot's data, where the points land, and painted pixels of the series colour. */
    static final String SCORE_CHART_JS = """
            var el = $('#scoreiterchart');
            var plot = el.data('plot');
            if (!plot) { return null; }
            var series = plot.getData()[0];
            var pts = series.data;
            var visible = 0;
            for (var i = 0; i < pts.length; i++) {
              var cx = series.xaxis.p2c(pts[i][0]), cy = series.yaxis.p2c(pts[i][1]);
              if (isFinite(cx) && isFinite(cy) && cx >= 0 && cx <= plot.width() && cy >= 0 && cy <= plot.height()) { visible++; }
            }
            var canvas = el.find('canvas.flot-base')[0];
            var px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            var painted = 0;  // the score line colour, #FA5833
            for (var j = 0; j < px.length; j += 4) {
              if (Math.abs(px[j] - 250) < 25 && Math.abs(px[j + 1] - 88) < 35 && Math.abs(px[j + 2] - 51) < 35 && px[j + 3] > 200) { painted++; }
            }
            return {points: pts.length, visible: visible, painted: painted, label: series.label,
                    width: el.width(), height: el.height(), firstScore: pts.length ? pts[0][1] : null};
            """;

    @Test
    void theOverviewScoreChartShowsTheScoresOfARunningTraining(@TempDir Path tmp) throws Exception {
        Path chromium = Browsers.findExecutable("CHROME_BIN", "chromium", "chromium-browser", "google-chrome");
        Path chromedriver = Browsers.findExecutable("CHROMEDRIVER", "chromedriver");
        if (chromium == null || chromedriver == null) {
            String reason = "UiBrowserTest skipped: no " + (chromium == null ? "chromium" : "chromedriver")
                    + " on PATH (Debian: apt-get install chromium chromium-driver; or set CHROME_BIN / CHROMEDRIVER)";
            System.out.println(reason);
            Assumptions.assumeTrue(false, reason);
        }
        Files.createDirectories(SHOTS);

        Hold hold = new Hold(HOLD_AT_ITERATION);
        RunConfig config = ConfigLoader.load(null, quickConfig(tmp.resolve("run")));
        ExecutorService trainer = Executors.newSingleThreadExecutor();
        TrainingUi ui = TrainingUi.start(TrainingUi.Settings.serving("127.0.0.1", 0), System.out, System.err);
        ChromeDriver browser = null;
        try {
            UiServer server = ui.server().orElseThrow();
            List<TrainingListener> listeners = new ArrayList<>(ui.listeners());
            listeners.add(hold);
            Future<Trainer.Result> training = trainer.submit(() -> Trainer.train(config,
                    new Trainer.Options(false, listeners, List.of(), null)));
            assertTrue(hold.reached.await(10, TimeUnit.MINUTES) || training.isDone(), "training never reached iteration " + HOLD_AT_ITERATION);
            if (training.isDone()) {
                training.get(); // throws what went wrong
            }

            browser = Browsers.chrome(chromium, chromedriver, tmp.resolve("chrome-profile"));
            browser.get(server.overviewUrl());
            WebElement chart = browser.findElement(By.id("scoreiterchart"));
            JavascriptExecutor js = browser;
            int expected = HOLD_AT_ITERATION + 1;
            @SuppressWarnings("unchecked")
            Map<String, Object> seen = new WebDriverWait(browser, Duration.ofSeconds(120)).until(d -> {
                Object r = js.executeScript(SCORE_CHART_JS);
                return r instanceof Map<?, ?> m && ((Number) m.get("points")).intValue() >= expected ? (Map<String, Object>) m : null;
            });
            shoot(browser, "train-overview.png");

            // What the page got from the server: the JSON endpoint behind the chart.
            var data = ConfigLoader.JSON.readTree(UiTestSupport.get(server.baseUrl() + "/train/overview/data").body());
            int served = data.get("scores").size();
            assertEquals(expected, served, "training is held: the server holds exactly the scores of iterations 0.." + HOLD_AT_ITERATION);
            assertEquals(served, ((Number) seen.get("points")).intValue(), "chart points vs /train/overview/data scores");
            assertTrue(((Number) seen.get("points")).intValue() >= 1, "the score chart shows no point");
            assertEquals(seen.get("points"), seen.get("visible"), "points outside the plot area: " + seen);
            assertEquals(data.get("scores").get(0).asDouble(), ((Number) seen.get("firstScore")).doubleValue(), 1e-9);
            assertTrue(((Number) seen.get("painted")).intValue() >= 20, "the score line is not drawn on the canvas: " + seen);
            assertEquals("score", seen.get("label"));
            assertTrue(chart.isDisplayed() && chart.getSize().getWidth() > 100 && chart.getSize().getHeight() > 100, "chart not visible");

            hold.release.countDown();
            Trainer.Result result = training.get(10, TimeUnit.MINUTES);

            // Before the server stops: the run's charts page shows the three PNGs.
            browser.get(server.chartsUrl());
            List<WebElement> images = browser.findElements(By.tagName("img"));
            assertEquals(Charts.FILES.size(), images.size());
            for (WebElement img : images) {
                Object natural = js.executeScript("return arguments[0].complete ? arguments[0].naturalWidth : 0;", img);
                assertTrue(((Number) natural).intValue() > 300, img.getAttribute("src") + " did not load");
            }
            shoot(browser, "run-charts.png");
            assertTrue(Files.isRegularFile(result.runDirectory().resolve(RunStats.FILE)));
        } finally {
            hold.release.countDown();
            if (browser != null) {
                browser.quit();
            }
            trainer.shutdown();
            trainer.awaitTermination(10, TimeUnit.MINUTES);
            ui.close();
        }
        assertTrue(Files.size(SHOTS.resolve("train-overview.png")) > 10_000);
    }

    static Map<String, Object> quickConfig(Path out) {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("data", UiTestSupport.dataDir().toString());
        o.put("out", out.toString());
        o.put("epochs", 1);
        o.put("maxBatchesPerEpoch", HOLD_AT_ITERATION + 2);
        o.put("batchSize", 8);
        o.put("imageSize", 64);
        o.put("maxImagesPerClass", 30);
        return o;
    }

    static void shoot(ChromeDriver browser, String name) throws Exception {
        File f = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE);
        Files.copy(f.toPath(), SHOTS.resolve(name), StandardCopyOption.REPLACE_EXISTING);
        System.out.println("screenshot: " + SHOTS.resolve(name).toAbsolutePath());
    }

    /** Holds the training thread in one iteration until released. */
    static final class Hold extends BaseTrainingListener {
        final CountDownLatch reached = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        private final int atIteration;

        Hold(int atIteration) {
            this.atIteration = atIteration;
        }

        @Override
        public void iterationDone(Model model, int iteration, int epoch) {
            if (iteration == atIteration && reached.getCount() > 0) {
                reached.countDown();
                try {
                    release.await(10, TimeUnit.MINUTES);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
