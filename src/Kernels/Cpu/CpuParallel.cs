namespace LongLM.Kernels.Cpu;

/// <summary>Splits [0, count) into contiguous chunks over the thread pool; small jobs stay on the calling thread.</summary>
internal static class CpuParallel
{
    /// <summary>Runs body(start, end) over chunks; <paramref name="grain"/> is the least work per chunk worth a thread.</summary>
    public static void For(int count, int grain, Action<int, int> body)
    {
        int workers = Environment.ProcessorCount;
        if (count <= grain || workers == 1)
        {
            body(0, count);
            return;
        }
        // Four chunks per worker balance uneven cores without paying scheduling cost per row.
        int chunks = Math.Min(workers * 4, (count + grain - 1) / grain);
        int size = (count + chunks - 1) / chunks;
        Parallel.For(0, chunks, c =>
        {
            int start = c * size;
            int end = Math.Min(count, start + size);
            if (start < end) body(start, end);
        });
    }
}
