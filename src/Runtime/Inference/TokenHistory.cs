using System.Collections;

namespace LongLM.Runtime.Inference;

/// <summary>
/// The last <see cref="Capacity"/> token ids of a stream, oldest first, in a fixed ring: memory does not grow with the
/// stream (a 200M-token Lambda session keeps its window, not 800 MB of ids). <see cref="Total"/> counts every id seen.
/// </summary>
public sealed class TokenHistory : IReadOnlyList<int>
{
    private int[] _ring;
    private int _start, _count;

    /// <summary>A history that keeps at most <paramref name="capacity"/> ids (int.MaxValue: all of them, grown as needed).</summary>
    public TokenHistory(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
        _ring = new int[Math.Min(capacity, 256)];
    }

    /// <summary>Most ids kept.</summary>
    public int Capacity { get; }
    /// <summary>Ids appended since creation or <see cref="Clear"/>, kept or not.</summary>
    public long Total { get; private set; }
    /// <summary>Ids kept (the last min(Total, Capacity)).</summary>
    public int Count => _count;

    /// <summary>The i-th kept id, oldest first.</summary>
    public int this[int index]
    {
        get
        {
            if ((uint)index >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(index));
            int i = _start + index;
            return _ring[i >= _ring.Length ? i - _ring.Length : i];
        }
    }

    /// <summary>Appends one id, dropping the oldest when full.</summary>
    public void Add(int id)
    {
        Total++;
        if (_count == _ring.Length && _count < Capacity) Grow();
        if (_count < _ring.Length)
        {
            int i = _start + _count;
            _ring[i >= _ring.Length ? i - _ring.Length : i] = id;
            _count++;
            return;
        }
        _ring[_start] = id;
        _start = _start + 1 == _ring.Length ? 0 : _start + 1;
    }

    /// <summary>Appends ids in order.</summary>
    public void AddRange(ReadOnlySpan<int> ids)
    {
        foreach (int id in ids) Add(id);
    }

    /// <summary>Copies the last <paramref name="destination"/>.Length kept ids into <paramref name="destination"/>.</summary>
    public void CopyLast(Span<int> destination)
    {
        if (destination.Length > _count) throw new ArgumentOutOfRangeException(nameof(destination), $"{destination.Length} ids asked, {_count} kept");
        for (int i = 0; i < destination.Length; i++) destination[i] = this[_count - destination.Length + i];
    }

    /// <summary>Forgets the latest <paramref name="count"/> ids (all kept ones when fewer are kept).</summary>
    public void RemoveLast(long count)
    {
        if (count < 0 || count > Total) throw new ArgumentOutOfRangeException(nameof(count), count, $"{Total} ids seen");
        Total -= count;
        _count = (int)Math.Max(0, _count - count);
    }

    /// <summary>Forgets every id.</summary>
    public void Clear()
    {
        _start = _count = 0;
        Total = 0;
    }

    private void Grow()
    {
        var bigger = new int[(int)Math.Min(Capacity, Math.Max(256L, 2L * _ring.Length))];
        for (int i = 0; i < _count; i++) bigger[i] = this[i];
        _ring = bigger;
        _start = 0;
    }

    /// <inheritdoc />
    public IEnumerator<int> GetEnumerator()
    {
        for (int i = 0; i < _count; i++) yield return this[i];
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
