/**
 * The notebook-facing API: small classes that read a data folder, a run folder or benchmark output
 * and return things a Jupyter cell can show — {@link java.awt.image.BufferedImage}s (shown as PNG
 * through {@link org.xraydl.explore.Images#pngBase64}), XChart charts and
 * {@link org.xraydl.explore.Table}s (HTML or markdown). The notebooks in {@code notebooks/} only
 * call these; no logic lives in the cells.
 *
 * <ul>
 *   <li>{@link org.xraydl.explore.Explore}: where things are (project, data, latest run, benchmark
 *       output), from environment variables with defaults.</li>
 *   <li>{@link org.xraydl.explore.DataOverview}: counts per class and split, image sizes, sample
 *       images, the training augmentation applied to one image.</li>
 *   <li>{@link org.xraydl.explore.RunExplorer}: loss/accuracy curves, ROC and confusion matrix (drawn
 *       by {@link org.xraydl.report.Charts}, as training draws them) and the misclassified validation
 *       images of a finished run.</li>
 *   <li>{@link org.xraydl.explore.SpeedExplorer}: benchmark and workers results when present, and the
 *       training speed recorded by runs.</li>
 * </ul>
 */
package org.xraydl.explore;
