using System.Diagnostics;
using System.Numerics.Tensors;

namespace LongLM.Bench;

/// <summary>
/// Read bandwidth: every core sums its slice of a buffer far larger than the caches (TensorPrimitives.Sum,
/// the same vector loads the GEMV uses), repeated; the median of the runs is reported.
/// </summary>
internal static class BandwidthHarness
{
    public static int Run(string[] args)
    {
        int megabytes = int.Parse(Stats.Arg(args, "--mb", "1024"));
        int runs = int.Parse(Stats.Arg(args, "--runs", "15"));
        var data = Buffer(megabytes);
        Console.WriteLine($"read bandwidth: median {Measure(data, runs):F2} GB/s over {runs} runs of {megabytes} MB, {Environment.ProcessorCount} threads");
        return 0;
    }

    /// <summary>A buffer of <paramref name="megabytes"/> MB, touched so its pages exist.</summary>
    public static float[] Buffer(int megabytes)
    {
        var data = new float[megabytes * 1024L * 1024 / 4];
        for (int i = 0; i < data.Length; i++) data[i] = i & 7;
        return data;
    }

    /// <summary>Median GB/s of <paramref name="runs"/> parallel sweeps over <paramref name="data"/> (after two warm-up sweeps).</summary>
    public static double Measure(float[] data, int runs)
    {
        int workers = Environment.ProcessorCount;
        int slice = data.Length / workers;
        var samples = new List<double>();
        double sink = 0;
        for (int r = 0; r < runs + 2; r++)
        {
            var partial = new double[workers];
            var sw = Stopwatch.StartNew();
            Parallel.For(0, workers, w => partial[w] = TensorPrimitives.Sum(data.AsSpan(w * slice, slice)));
            sw.Stop();
            sink += partial.Sum();
            if (r >= 2) samples.Add((double)slice * workers * 4 / sw.Elapsed.TotalSeconds / 1e9);
        }
        GC.KeepAlive(sink);
        return Stats.Median(samples);
    }
}
