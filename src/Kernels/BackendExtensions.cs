namespace LongLM.Kernels;

/// <summary>Conveniences over <see cref="IBackend"/> shared by the runtime, ops and tests.</summary>
public static class BackendExtensions
{
    /// <summary>A new buffer holding <paramref name="values"/> (the caller disposes it).</summary>
    public static DeviceBuffer UploadNew(this IBackend backend, ReadOnlySpan<float> values)
    {
        var buffer = backend.Allocate(values.Length);
        try
        {
            backend.Upload(values, buffer);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }
}
