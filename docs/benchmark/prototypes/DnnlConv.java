// Prototype, not part of the build: one convolution layer's forward or backward (data + weights) through
// oneDNN 2.5.2 called directly (JavaCPP's org.bytedeco:dnnl 2.5.2-1.5.7, which needs org.bytedeco:opencl
// 3.0-1.5.7 for its class hierarchy; both bundle their native libraries, libOpenCL.so.1 included), with every
// primitive created once and kept, NCHW/OIHW user memory as ND4J hands it over, reorders only where the
// primitive's layout differs. Measures µs per call to compare with libnd4j's conv2d / conv2d_bp ops
// (docs/benchmark/README.md, "the next lever"). With ND4J loaded first ("nd4j" as 6th argument), the process
// maps one libgomp only (ND4J's): oneDNN 2.5.2 resolves its libgomp.so.1 dependency to the loaded one.
//
// Run (jars from Maven Central: dnnl-2.5.2-1.5.7.jar, dnnl-2.5.2-1.5.7-linux-x86_64.jar,
// opencl-3.0-1.5.7.jar, opencl-3.0-1.5.7-linux-x86_64.jar in $D; the project compiled, target/bench-cp.txt made):
//   CP="$D/*:target/classes:$(cat target/bench-cp.txt)"
//   javac -cp "$CP" -d /tmp/dproto docs/benchmark/prototypes/DnnlConv.java
//   java $(cat .mvn/jvm.config) [-Dfwd=1] -cp "/tmp/dproto:$CP" DnnlConv IC OC HW K direct|auto nd4j
import org.bytedeco.javacpp.*;
import org.bytedeco.dnnl.*;
import static org.bytedeco.dnnl.global.dnnl.*;
import java.util.*;

/** Prototype: a conv layer's backward (data + weights) through oneDNN directly, primitives kept, NCHW user memory. */
public class DnnlConv {
  static void ok(int s, String what) { if (s != dnnl_success) throw new RuntimeException(what + " failed: " + s); }
  static dnnl_engine eng; static dnnl_stream strm;
  static dnnl_memory_desc_t md(long[] dims, int tag) { dnnl_memory_desc_t m = new dnnl_memory_desc_t(); ok(dnnl_memory_desc_init_by_tag(m, dims.length, dims, dnnl_f32, tag), "md"); return m; }
  static dnnl_memory mem(dnnl_memory_desc_t m, Pointer h) { dnnl_memory x = new dnnl_memory(); ok(dnnl_memory_create(x, m, eng, h), "mem"); return x; }
  static long size(dnnl_memory_desc_t m) { return dnnl_memory_desc_get_size(m); }
  static dnnl_memory alloc(dnnl_memory_desc_t m) { return mem(m, new BytePointer(size(m))); }
  static final List<Runnable> plan = new ArrayList<>();
  static void exec(dnnl_primitive p, int[] args, dnnl_memory[] mems) {
    dnnl_exec_arg_t a = new dnnl_exec_arg_t(args.length);
    for (int i = 0; i < args.length; i++) { a.position(i).arg(args[i]).memory(mems[i]); }
    a.position(0);
    plan.add(() -> ok(dnnl_primitive_execute(p, strm, args.length, a), "exec"));
  }
  static dnnl_primitive prim(dnnl_primitive_desc pd) { dnnl_primitive p = new dnnl_primitive(); ok(dnnl_primitive_create(p, pd), "prim"); return p; }
  /** reorder from -> to if they differ; returns the memory the consumer should use */
  static dnnl_memory reorderTo(dnnl_memory from, dnnl_memory_desc_t fromMd, dnnl_memory_desc_t toMd) {
    if (dnnl_memory_desc_equal(fromMd, toMd) != 0) return from;
    dnnl_memory to = alloc(toMd);
    dnnl_primitive_desc pd = new dnnl_primitive_desc(); ok(dnnl_reorder_primitive_desc_create(pd, fromMd, eng, toMd, eng, null), "reorder pd");
    exec(prim(pd), new int[]{DNNL_ARG_FROM, DNNL_ARG_TO}, new dnnl_memory[]{from, to});
    return to;
  }
  static void reorderBack(dnnl_memory from, dnnl_memory_desc_t fromMd, dnnl_memory to, dnnl_memory_desc_t toMd) {
    dnnl_primitive_desc pd = new dnnl_primitive_desc(); ok(dnnl_reorder_primitive_desc_create(pd, fromMd, eng, toMd, eng, null), "reorder pd");
    exec(prim(pd), new int[]{DNNL_ARG_FROM, DNNL_ARG_TO}, new dnnl_memory[]{from, to});
  }
  public static void main(String[] a) {
    int ic = Integer.parseInt(a[0]), oc = Integer.parseInt(a[1]), hw = Integer.parseInt(a[2]), k = Integer.parseInt(a[3]);
    int alg = a[4].equals("auto") ? dnnl_convolution_auto : dnnl_convolution_direct;
    long n = 32, p = k / 2;
    if (a.length > 5) { // ND4J first, as in the real process
      org.xraydl.kernels.OpenMpSpin.applyBeforeNd4j();
      org.nd4j.linalg.api.ndarray.INDArray warm = org.nd4j.linalg.factory.Nd4j.rand(4, 4).mmul(org.nd4j.linalg.factory.Nd4j.rand(4, 4));
    }
    eng = new dnnl_engine(); ok(dnnl_engine_create(eng, dnnl_cpu, 0), "engine");
    strm = new dnnl_stream(); ok(dnnl_stream_create(strm, eng, dnnl_stream_default_flags), "stream");
    long[] src = {n, ic, hw, hw}, dst = {n, oc, hw, hw}, wei = {oc, ic, k, k}, st = {1, 1}, pad = {p, p};
    dnnl_memory_desc_t uSrc = md(src, dnnl_nchw), uDst = md(dst, dnnl_nchw), uWei = md(wei, dnnl_oihw);
    dnnl_memory_desc_t aSrc = md(src, dnnl_format_tag_any), aDst = md(dst, dnnl_format_tag_any), aWei = md(wei, dnnl_format_tag_any);
    dnnl_convolution_desc_t fd = new dnnl_convolution_desc_t();
    ok(dnnl_convolution_forward_desc_init(fd, dnnl_forward_training, alg, aSrc, aWei, null, aDst, st, pad, pad), "fwd desc");
    dnnl_primitive_desc fpd = new dnnl_primitive_desc(); ok(dnnl_primitive_desc_create(fpd, new const_dnnl_op_desc_t(fd), null, eng, null), "fwd pd");
    dnnl_convolution_desc_t bdd = new dnnl_convolution_desc_t();
    ok(dnnl_convolution_backward_data_desc_init(bdd, alg, aSrc, aWei, aDst, st, pad, pad), "bwd data desc");
    dnnl_primitive_desc bdpd = new dnnl_primitive_desc(); ok(dnnl_primitive_desc_create(bdpd, new const_dnnl_op_desc_t(bdd), null, eng, fpd), "bwd data pd");
    dnnl_convolution_desc_t bwd = new dnnl_convolution_desc_t();
    ok(dnnl_convolution_backward_weights_desc_init(bwd, alg, aSrc, aWei, null, aDst, st, pad, pad), "bwd w desc");
    dnnl_primitive_desc bwpd = new dnnl_primitive_desc(); ok(dnnl_primitive_desc_create(bwpd, new const_dnnl_op_desc_t(bwd), null, eng, fpd), "bwd w pd");
    // user memories (as ND4J would hand them over: NCHW / OIHW)
    dnnl_memory mSrc = alloc(uSrc), mDy = alloc(uDst), mW = alloc(uWei), mDx = alloc(uSrc), mDw = alloc(uWei);
    if (System.getProperty("fwd") != null) { // forward only: src, weights in; dst out
      dnnl_memory_desc_t fSrc = dnnl_primitive_desc_query_md(fpd, dnnl_query_src_md, 0), fW = dnnl_primitive_desc_query_md(fpd, dnnl_query_weights_md, 0), fDst = dnnl_primitive_desc_query_md(fpd, dnnl_query_dst_md, 0);
      dnnl_memory s1 = reorderTo(mSrc, uSrc, fSrc), w1 = reorderTo(mW, uWei, fW);
      boolean dDirect = dnnl_memory_desc_equal(fDst, uDst) != 0; dnnl_memory mY = alloc(uDst); dnnl_memory y1 = dDirect ? mY : alloc(fDst);
      exec(prim(fpd), new int[]{DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST}, new dnnl_memory[]{s1, w1, y1});
      if (!dDirect) reorderBack(y1, fDst, mY, uDst);
      Runnable step = () -> { for (Runnable r : plan) r.run(); ok(dnnl_stream_wait(strm), "wait"); };
      for (int i = 0; i < 50; i++) step.run();
      int reps = 300; long t0 = System.nanoTime();
      for (int i = 0; i < reps; i++) step.run();
      System.out.printf("direct oneDNN 2.5.2 fwd ic%d oc%d %dx%d k%d %s: %.0f us/call, %d primitives%n", ic, oc, hw, hw, k, a[4], (System.nanoTime() - t0) / 1e3 / reps, plan.size());
      return;
    }
    FloatPointer fs = new FloatPointer(dnnl_memory_desc_get_size(uSrc) / 4);
    // bwd data: diff_dst, weights -> diff_src
    dnnl_memory_desc_t bdDy = dnnl_primitive_desc_query_md(bdpd, dnnl_query_diff_dst_md, 0), bdW = dnnl_primitive_desc_query_md(bdpd, dnnl_query_weights_md, 0), bdDx = dnnl_primitive_desc_query_md(bdpd, dnnl_query_diff_src_md, 0);
    dnnl_memory_desc_t bwSrc = dnnl_primitive_desc_query_md(bwpd, dnnl_query_src_md, 0), bwDy = dnnl_primitive_desc_query_md(bwpd, dnnl_query_diff_dst_md, 0), bwDw = dnnl_primitive_desc_query_md(bwpd, dnnl_query_diff_weights_md, 0);
    dnnl_memory dyForData = reorderTo(mDy, uDst, bdDy);
    dnnl_memory dyForW = dnnl_memory_desc_equal(bdDy, bwDy) != 0 ? dyForData : reorderTo(mDy, uDst, bwDy);
    dnnl_memory wForData = reorderTo(mW, uWei, bdW);
    dnnl_memory srcForW = reorderTo(mSrc, uSrc, bwSrc);
    boolean dxDirect = dnnl_memory_desc_equal(bdDx, uSrc) != 0, dwDirect = dnnl_memory_desc_equal(bwDw, uWei) != 0;
    dnnl_memory dxOut = dxDirect ? mDx : alloc(bdDx), dwOut = dwDirect ? mDw : alloc(bwDw);
    exec(prim(bdpd), new int[]{DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC}, new dnnl_memory[]{dyForData, wForData, dxOut});
    exec(prim(bwpd), new int[]{DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS}, new dnnl_memory[]{srcForW, dyForW, dwOut});
    if (!dxDirect) reorderBack(dxOut, bdDx, mDx, uSrc);
    if (!dwDirect) reorderBack(dwOut, bwDw, mDw, uWei);
    Runnable step = () -> { for (Runnable r : plan) r.run(); ok(dnnl_stream_wait(strm), "wait"); };
    for (int i = 0; i < 50; i++) step.run();
    int reps = 300; long t0 = System.nanoTime();
    for (int i = 0; i < reps; i++) step.run();
    try { for (String l : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/maps"))) if (l.contains("gomp") && l.contains("r-xp")) System.out.println("mapped: " + l.substring(l.lastIndexOf(' ') + 1)); } catch (Exception e) { }
    System.out.printf("direct oneDNN 2.5.2 bwd (data+weights) ic%d oc%d %dx%d k%d %s: %.0f us/call, %d primitives%n", ic, oc, hw, hw, k, a[4], (System.nanoTime() - t0) / 1e3 / reps, plan.size());
  }
}
