using System.Runtime.InteropServices;
using LongLM.Kernels;

namespace LongLM.Models;

/// <summary>
/// Puts a model's tensors on its backend and remembers them, so that disposing the model releases every device copy
/// (a tied head or a shared view is released once). With a <see cref="LoadQuantization"/>, the tensors it applies to
/// are quantized here, on their way to the backend, into native memory this loader owns until the model is disposed,
/// or only until the upload when the backend copies its weights (<see cref="IBackend.CopiesWeights"/>).
/// </summary>
public sealed class WeightLoader(IBackend backend, LoadQuantization? quantization = null) : IDisposable
{
    private readonly List<DeviceWeight> _loaded = [];
    private readonly List<nint> _quantized = [];
    private bool _disposed;

    /// <summary>The backend the weights go to.</summary>
    public IBackend Backend { get; } = backend;

    /// <summary>The load-time quantization in force, or null.</summary>
    public LoadQuantization? Quantization { get; } = quantization;

    /// <summary>Every weight loaded so far, once each (a tied head appears once), in load order.</summary>
    public IReadOnlyList<DeviceWeight> Loaded => _loaded.Distinct().ToArray();

    /// <summary>Quantized tensors whose host copy this loader holds (none when the backend copies its weights).</summary>
    public int HostQuantizedCopies => _quantized.Count;

    /// <summary>Makes <paramref name="view"/> usable by the backend (quantized first where the rule applies) and tracks it.</summary>
    public unsafe DeviceWeight LoadWeight(WeightView view)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Quantization is { } q && q.Applies(view))
        {
            var quantized = q.Quantize(view, out nint memory);
            try
            {
                return Track(Backend.LoadWeight(quantized));
            }
            finally
            {
                // A backend that made its own copy (a GPU upload) no longer needs the host's: it goes now, not with the model.
                if (Backend.CopiesWeights) NativeMemory.AlignedFree((void*)memory);
                else _quantized.Add(memory);
            }
        }
        return Track(Backend.LoadWeight(view));
    }

    private DeviceWeight Track(DeviceWeight weight)
    {
        _loaded.Add(weight);
        return weight;
    }

    /// <summary>Releases every weight loaded, then the quantized copies they read; a second call is a no-op.</summary>
    public unsafe void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var weight in _loaded.Distinct()) weight.Dispose();
        _loaded.Clear();
        foreach (nint memory in _quantized) NativeMemory.AlignedFree((void*)memory);
        _quantized.Clear();
    }
}
