using System.Diagnostics;
using System.Runtime.InteropServices;
using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Ops;

namespace LongLM.Bench;

/// <summary>
/// Prefill GEMM (512 rows by default) on SmolLM-135M's projection shapes, the old path against the new one, run by
/// run alternately so that a neighbour's load falls on both: old = one dot product per (row, output)
/// (<see cref="MatMul.Range"/>), the output features split in one contiguous range per thread as the backend did;
/// new = <see cref="CpuBackend.MatMul"/>, which takes the register-tiled GEMM for rows >= 4. The figure is the median
/// of the per-pair time ratios old / new.
/// </summary>
internal static unsafe class GemmHarness
{
    public static int Run(string[] args)
    {
        int rows = int.Parse(Stats.Arg(args, "--rows", "512"));
        int pairs = int.Parse(Stats.Arg(args, "--pairs", "7"));
        string[] shapes = Stats.Arg(args, "--shapes", "576x576,192x576,1536x576,576x1536,49152x576").Split(',');
        using var backend = new CpuBackend();
        int threads = backend.Threads;
        Console.WriteLine($"prefill GEMM, {rows} rows, {threads} threads, {pairs} alternating pairs; ms are medians, ratio = median of per-pair old/new");
        Console.WriteLine("| shape [out x in] | dtype | old ms | new ms | old GFLOP/s | new GFLOP/s | speed-up (median of pairs) |");
        Console.WriteLine("|---|---|--:|--:|--:|--:|--:|");
        foreach (string shape in shapes)
            foreach (var dtype in new[] { DType.F32, DType.BF16 })
            {
                var parts = shape.Split('x').Select(int.Parse).ToArray();
                int outDim = parts[0], inDim = parts[1];
                long bytes = (long)outDim * inDim * dtype.Size();
                void* memory = NativeMemory.AlignedAlloc((nuint)bytes, 64);
                try
                {
                    var span = new Span<byte>(memory, (int)bytes);
                    new Random(1).NextBytes(span);
                    // Random bytes can be NaN/Inf patterns; clearing the exponent's top bit keeps values finite and small.
                    if (dtype == DType.F32) foreach (ref var f in MemoryMarshal.Cast<byte, uint>(span)) f &= 0xBFFFFFFF;
                    else foreach (ref var h in MemoryMarshal.Cast<byte, ushort>(span)) h &= 0xBFFF;
                    var view = new WeightView((nint)memory, dtype, outDim, inDim, shape);
                    var x = Enumerable.Range(0, rows * inDim).Select(i => (float)Math.Sin(i)).ToArray();
                    var yOld = new float[rows * outDim];
                    var scratch = Enumerable.Range(0, threads).Select(_ => new float[inDim]).ToArray();
                    using var dw = backend.LoadWeight(view);
                    using var dx = backend.UploadNew(x);
                    using var dy = backend.Allocate(rows * outDim);

                    void Old() => Parallel.For(0, threads, t =>
                        MatMul.Range(x, rows, view, default, yOld, outDim * t / threads, outDim * (t + 1) / threads, scratch[t]));
                    void New() => backend.MatMul(dx, dw, null, dy, rows);
                    // Repeat a call until it has run 0.2 s, so small shapes are timed over many calls.
                    static double Time(Action call)
                    {
                        int n = 0;
                        var sw = Stopwatch.StartNew();
                        do { call(); n++; } while (sw.Elapsed.TotalSeconds < 0.2);
                        return sw.Elapsed.TotalSeconds / n;
                    }
                    Old();
                    New();
                    var olds = new List<double>();
                    var news = new List<double>();
                    var ratios = new List<double>();
                    for (int p = 0; p < pairs; p++)
                    {
                        double o = Time(Old), n = Time(New);
                        olds.Add(o);
                        news.Add(n);
                        ratios.Add(o / n);
                    }
                    double flops = 2.0 * rows * outDim * inDim;
                    double mo = Stats.Median(olds), mn = Stats.Median(news);
                    Console.WriteLine($"| {shape} | {dtype} | {mo * 1e3:F2} | {mn * 1e3:F2} | {flops / mo / 1e9:F1} | {flops / mn / 1e9:F1} | {Stats.Median(ratios):F2}x |");
                }
                finally
                {
                    NativeMemory.AlignedFree(memory);
                }
            }
        return 0;
    }
}
