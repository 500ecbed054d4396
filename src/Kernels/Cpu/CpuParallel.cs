namespace LongLM.Kernels.Cpu;

/// <summary>
/// A range of work split into chunks over the thread pool, written so that a call allocates nothing: the op's
/// arguments live in a reusable job object (one per op type and calling thread), helpers are reusable tickets
/// queued with <see cref="ThreadPool.UnsafeQueueUserWorkItem(IThreadPoolWorkItem, bool)"/>, and the caller works on
/// chunks itself and waits only for chunks already claimed (never for a helper that has not started, so a busy pool
/// cannot stall it). Parallel.For with a lambda allocates a closure, a delegate and loop state per call, which a
/// decode step pays dozens of times.
/// </summary>
internal abstract class RangeJob
{
    // High 32 bits: generation (bumped per call, so a late helper from an earlier call claims nothing);
    // low 32 bits: the next chunk to claim.
    internal long State;
    internal int Count, Size, Chunks, Completed;
    internal Exception? Error;

    /// <summary>Processes items [start, end).</summary>
    public abstract void Run(int start, int end);

    /// <summary>Drops the call's array references, so a per-thread job never keeps a disposed sequence's buffers alive.</summary>
    public abstract void Clear();
}

/// <summary>The per-thread instance of a job type (the caller's own; helpers only read it while its call runs).</summary>
internal static class PerThread<T> where T : RangeJob, new()
{
    [ThreadStatic] private static T? s_job;

    public static T Job => s_job ??= new T();
}

/// <summary>Splits [0, count) into contiguous chunks over the thread pool; small jobs stay on the calling thread.</summary>
internal static class CpuParallel
{
    private static readonly Stack<Ticket> s_tickets = new();

    // Tests widen the moment between writing a call's fields and opening it to helpers (0: no delay), so that a
    // helper left over from the previous call is there to try its claim; per thread, so it slows only their calls.
    [ThreadStatic] internal static int t_publishDelaySpins;

    /// <summary>Calls on this thread that went parallel (queued helpers): what `longlm bench --profile` counts as thread wake-ups.</summary>
    [ThreadStatic] internal static long t_parallelRegions;

    /// <summary>
    /// Runs job.Run(start, end) over chunks; <paramref name="grain"/> is the least work per chunk worth a thread and
    /// <paramref name="workers"/> the most threads that work on the call at once (the caller and workers - 1 helpers).
    /// </summary>
    public static void Run(RangeJob job, int count, int grain, int workers)
    {
        try
        {
            RunChunks(job, count, grain, workers);
        }
        finally
        {
            job.Clear();
        }
    }

    private static void RunChunks(RangeJob job, int count, int grain, int workers)
    {
        if (count <= grain || workers <= 1)
        {
            if (count > 0) job.Run(0, count);
            return;
        }
        t_parallelRegions++;
        // Four chunks per worker balance uneven cores without paying scheduling cost per row.
        int chunks = Math.Min(workers * 4, (count + grain - 1) / grain);
        // A helper queued for an earlier call may still be looking for a chunk. Bump the generation, closed (next
        // chunk past any count), before touching the call's fields: were the new chunk count published first, that
        // late helper would pass its generation check against the old generation and the new count, claim a chunk of
        // this call and add its completion to this call's count, so the call could return with a chunk unfinished.
        long generation = (Volatile.Read(ref job.State) >> 32) + 1;
        Volatile.Write(ref job.State, (generation << 32) | int.MaxValue);
        job.Count = count;
        job.Size = (count + chunks - 1) / chunks;
        job.Chunks = chunks;
        job.Completed = 0;
        job.Error = null;
        if (t_publishDelaySpins > 0) Thread.SpinWait(t_publishDelaySpins);
        Volatile.Write(ref job.State, generation << 32);
        for (int i = Math.Min(workers - 1, chunks - 1); i > 0; i--)
            ThreadPool.UnsafeQueueUserWorkItem(RentTicket(job, generation), preferLocal: false);
        Work(job, generation);
        var spin = new SpinWait();
        while (Volatile.Read(ref job.Completed) < chunks) spin.SpinOnce(sleep1Threshold: -1);
        if (job.Error is { } error) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
    }

    /// <summary>
    /// Mean seconds of a parallel call whose chunks do nothing, over <paramref name="samples"/> calls with
    /// <paramref name="workers"/> workers: the fixed cost of waking helpers and waiting for them (for --profile).
    /// </summary>
    internal static double EmptyRegionSeconds(int workers, int samples)
    {
        var job = PerThread<EmptyJob>.Job;
        for (int i = 0; i < 16; i++) Run(job, 4 * workers, 1, workers);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int i = 0; i < samples; i++) Run(job, 4 * workers, 1, workers);
        return System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds / samples;
    }

    private sealed class EmptyJob : RangeJob
    {
        public override void Run(int start, int end) { }
        public override void Clear() { }
    }

    private static void Work(RangeJob job, long generation)
    {
        while (true)
        {
            long state = Volatile.Read(ref job.State);
            int index = (int)(state & 0xFFFFFFFF);
            if (state >> 32 != generation || index >= job.Chunks) return;
            if (Interlocked.CompareExchange(ref job.State, state + 1, state) != state) continue;
            try
            {
                int start = index * job.Size, end = Math.Min(job.Count, start + job.Size);
                if (start < end) job.Run(start, end);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref job.Error, e, null);
            }
            finally
            {
                Interlocked.Increment(ref job.Completed);
            }
        }
    }

    private static Ticket RentTicket(RangeJob job, long generation)
    {
        Ticket? ticket;
        lock (s_tickets) s_tickets.TryPop(out ticket);
        ticket ??= new Ticket();
        ticket.Job = job;
        ticket.Generation = generation;
        return ticket;
    }

    /// <summary>A helper's claim on one call of a job; back in the pool before it starts working.</summary>
    private sealed class Ticket : IThreadPoolWorkItem
    {
        public RangeJob? Job;
        public long Generation;

        public void Execute()
        {
            var job = Job!;
            long generation = Generation;
            Job = null;
            lock (s_tickets) s_tickets.Push(this);
            Work(job, generation);
        }
    }
}
