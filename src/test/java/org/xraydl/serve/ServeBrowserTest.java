package org.xraydl.serve;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.support.ui.WebDriverWait;
import org.xraydl.Browsers;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.data.Preprocessing;
import org.xraydl.model.ModelFactory;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.predict.Predictor;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real headless Chromium opens the served page, picks an X-ray with the file input, and reads the
 * class and confidence the page shows (they must be the Predictor's for the same file) and the Grad-CAM
 * overlay it loads. The screenshot
 * goes to target/serve-browser/. Skipped only when chromium or chromedriver is not installed
 * (Debian: apt-get install chromium chromium-driver; .ci/run installs them).
 */
class ServeBrowserTest {
    static final Path SHOTS = Path.of("target", "serve-browser");

    @Test
    void thePageShowsTheClassAndConfidenceOfAnUploadedImage(@TempDir Path tmp) throws Exception {
        Path chromium = Browsers.findExecutable("CHROME_BIN", "chromium", "chromium-browser", "google-chrome");
        Path chromedriver = Browsers.findExecutable("CHROMEDRIVER", "chromedriver");
        if (chromium == null || chromedriver == null) {
            String reason = "ServeBrowserTest skipped: no " + (chromium == null ? "chromium" : "chromedriver")
                    + " on PATH (Debian: apt-get install chromium chromium-driver; or set CHROME_BIN / CHROMEDRIVER)";
            System.out.println(reason);
            Assumptions.assumeTrue(false, reason);
        }
        Files.createDirectories(SHOTS);

        RunConfig c = TestData.tinyConfig(Map.of());
        Path zip = tmp.resolve("tiny.zip");
        new ModelBundle(ModelFactory.create(c, 2, null), Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA")), c, Map.of())
                .save(zip, false);
        ModelBundle bundle = ModelBundle.load(zip);
        Path image;
        try (Stream<Path> s = Files.list(TestData.sample().resolve("test/PNEUMONIA"))) {
            image = s.sorted().findFirst().orElseThrow().toAbsolutePath();
        }
        Predictor.Answer expected = new Predictor(bundle, false, 0.5).predict(image);

        ChromeDriver browser = null;
        try (PredictionServer server = PredictionServer.start(bundle, 0.5, "127.0.0.1", 0, PredictionServer.Limits.defaults())) {
            browser = Browsers.chrome(chromium, chromedriver, tmp.resolve("chrome-profile"));
            browser.get(server.baseUrl() + "/");
            WebDriverWait wait = new WebDriverWait(browser, Duration.ofSeconds(60));
            wait.until(d -> d.findElement(By.id("model")).getText().startsWith("model: densenet"));

            browser.findElement(By.id("file")).sendKeys(image.toString());
            WebElement cls = browser.findElement(By.id("class"));
            wait.until(d -> !cls.getText().isEmpty() || !d.findElement(By.id("error")).getText().isEmpty());
            assertEquals("", browser.findElement(By.id("error")).getText());
            assertEquals(expected.predictedClass(), cls.getText());
            double shown = Double.parseDouble(browser.findElement(By.id("confidence")).getAttribute("data-value"));
            assertEquals(Math.round(expected.confidence() * 1e4) / 1e4, shown, 0.0);
            assertEquals(String.format(java.util.Locale.ROOT, "%.1f%%", 100 * shown), browser.findElement(By.id("confidence")).getText());
            assertEquals(2, browser.findElements(By.cssSelector("#probabilities tr")).size());
            Object previewLoaded = browser.executeScript(
                    "var i = document.getElementById('preview'); return i.complete ? i.naturalWidth : 0;");
            assertTrue(((Number) previewLoaded).intValue() > 100, "the uploaded image is shown");
            // The Grad-CAM overlay arrives with the answer (a data: URL the page's CSP allows) and is decoded by the browser.
            String heatmapLoaded = "var i = document.getElementById('heatmap'); return i.complete && i.src ? i.naturalWidth : 0;";
            wait.until(d -> ((Number) ((ChromeDriver) d).executeScript(heatmapLoaded)).intValue() > 0);
            java.awt.image.BufferedImage uploaded = javax.imageio.ImageIO.read(image.toFile());
            assertEquals(uploaded.getWidth(), ((Number) browser.executeScript(heatmapLoaded)).intValue(), "overlay at the upload's size");
            assertTrue(browser.findElement(By.id("heatmapBox")).isDisplayed());
            assertTrue(browser.findElement(By.id("heatmap")).getAttribute("src").startsWith("data:image/png;base64,"));
            assertEquals("Grad-CAM: where the evidence for " + expected.predictedClass() + " lies (red = strongest)",
                    browser.findElement(By.id("heatmapCaption")).getText());

            File f = ((TakesScreenshot) browser).getScreenshotAs(OutputType.FILE);
            Files.copy(f.toPath(), SHOTS.resolve("serve-page.png"), StandardCopyOption.REPLACE_EXISTING);
            System.out.println("screenshot: " + SHOTS.resolve("serve-page.png").toAbsolutePath());
        } finally {
            if (browser != null) {
                browser.quit();
            }
        }
        assertTrue(Files.size(SHOTS.resolve("serve-page.png")) > 10_000);
    }

}
