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
        var data = new float[megabytes * 1024L * 1024 / 4];
        for (int i = 0; i < data.Length; i++) data[i] = i & 7;
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
        Console.WriteLine($"read bandwidth: median {Stats.Median(samples):F2} GB/s over {runs} runs of {megabytes} MB, {workers} threads (checksum {sink:E2})");
        return 0;
    }
}
