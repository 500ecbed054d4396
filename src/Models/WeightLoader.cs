using LongLM.Kernels;

namespace LongLM.Models;

/// <summary>
/// Puts a model's tensors on its backend and remembers them, so that disposing the model releases every device copy
/// (a tied head or a shared view is released once).
/// </summary>
public sealed class WeightLoader(IBackend backend) : IDisposable
{
    private readonly List<DeviceWeight> _loaded = [];
    private bool _disposed;

    /// <summary>The backend the weights go to.</summary>
    public IBackend Backend { get; } = backend;

    /// <summary>Makes <paramref name="view"/> usable by the backend and tracks it.</summary>
    public DeviceWeight LoadWeight(WeightView view)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var weight = Backend.LoadWeight(view);
        _loaded.Add(weight);
        return weight;
    }

    /// <summary>Releases every weight loaded; a second call is a no-op.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var weight in _loaded.Distinct()) weight.Dispose();
        _loaded.Clear();
    }
}
