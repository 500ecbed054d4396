using System.Diagnostics;

namespace LongLM.Cli.Commands;

/// <summary>
/// The process's peak resident set (working set), per benchmark row where the OS allows it: on Linux, writing 5 to
/// /proc/self/clear_refs resets the peak (VmHWM) to the current resident set, so each row reports its own peak rather
/// than the largest since the process started. Freed managed memory is collected first so one row's buffers do not
/// count in the next.
/// </summary>
public static class ProcessMemory
{
    /// <summary>Collects garbage and resets the peak; returns "row" when it was reset, "process" when it cannot be.</summary>
    public static string ResetPeak()
    {
        System.Runtime.GCSettings.LargeObjectHeapCompactionMode = System.Runtime.GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        if (!OperatingSystem.IsLinux()) return "process";
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return "row";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "process";
        }
    }

    /// <summary>Peak working set in bytes (VmHWM on Linux).</summary>
    public static long Peak()
    {
        using var self = Process.GetCurrentProcess();
        return self.PeakWorkingSet64;
    }
}
