using System.Globalization;
using System.Text;

namespace LongLM.Runtime.Chat.Jinja;

/// <summary>Python semantics of the value model: truth, equality, ordering, arithmetic, membership, type names.</summary>
internal static class PyOps
{
    public static bool Truthy(object? v) => v switch
    {
        null => false,
        Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        PyList l => l.Count > 0,
        PyDict d => d.Count > 0,
        PyRange r => r.Length > 0,
        _ => true,
    };

    public static bool IsNumber(object? v) => v is long or double or bool;

    private static double AsDouble(object? v) => v switch { long l => l, double d => d, bool b => b ? 1 : 0, _ => 0 };

    private static long AsLong(object? v) => v switch { long l => l, bool b => b ? 1 : 0, _ => 0 };

    public static bool Equal(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (a is null || b is null) return a is null && b is null;
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return AsDouble(a) == AsDouble(b);
            return AsLong(a) == AsLong(b);
        }
        switch (a)
        {
            case string sa: return b is string sb && sa == sb;
            case PyList la:
                System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
                if (b is not PyList lb || la.IsTuple != lb.IsTuple || la.Count != lb.Count) return false;
                for (int i = 0; i < la.Count; i++) if (!Equal(la.Items[i], lb.Items[i])) return false;
                return true;
            case PyDict da:
                System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
                if (b is not PyDict db || da.Count != db.Count) return false;
                foreach (var kv in da.Entries)
                    if (!db.TryGet(kv.Key, out var other) || !Equal(kv.Value, other)) return false;
                return true;
            default:
                return ReferenceEquals(a, b);
        }
    }

    /// <summary>Python's &lt; family; TypeError for unorderable pairs.</summary>
    public static int Compare(object? a, object? b, string op)
    {
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return AsDouble(a).CompareTo(AsDouble(b));
            return AsLong(a).CompareTo(AsLong(b));
        }
        if (a is string sa && b is string sb) return string.CompareOrdinal(sa, sb) switch { < 0 => -1, > 0 => 1, _ => 0 };
        if (a is PyList la && b is PyList lb && la.IsTuple == lb.IsTuple)
        {
            System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
            for (int i = 0; i < Math.Min(la.Count, lb.Count); i++)
                if (!Equal(la.Items[i], lb.Items[i])) return Compare(la.Items[i], lb.Items[i], op);
            return la.Count.CompareTo(lb.Count);
        }
        if (a is Undefined || b is Undefined) throw new JinjaError(UndefinedMessage(a is Undefined u ? u : (Undefined)b!));
        throw new JinjaError($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static string UndefinedMessage(Undefined u) => u.Hint;

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        PyList { IsTuple: true } => "tuple",
        PyList => "list",
        PyDict => "dict",
        PyRange => "range",
        Undefined => "Undefined",
        Namespace => "Namespace",
        LoopInfo => "LoopContext",
        Callable => "function",
        _ => "object",
    };

    public static bool Contains(object? container, object? item)
    {
        switch (container)
        {
            case string s:
                if (item is string sub) return s.Contains(sub, StringComparison.Ordinal);
                throw new JinjaError($"'in <string>' requires string as left operand, not {TypeName(item)}");
            case PyList l:
                foreach (var x in l.Items) if (Equal(x, item)) return true;
                return false;
            case PyDict d:
                return d.ContainsKey(item);
            case PyRange r:
                for (long i = 0; i < r.Length; i++) if (Equal(r[i], item)) return true;
                return false;
            case Undefined:
                return false;
            case Namespace ns:
                return ns.Attributes.ContainsKey(item);
            default:
                throw new JinjaError($"argument of type '{TypeName(container)}' is not iterable");
        }
    }

    public static long Length(object? v) => v switch
    {
        string s => CountCodePoints(s),
        PyList l => l.Count,
        PyDict d => d.Count,
        PyRange r => r.Length,
        Undefined => 0,
        _ => throw new JinjaError($"object of type '{TypeName(v)}' has no len()"),
    };

    /// <summary>Python counts code points; a surrogate pair is one character.</summary>
    public static int CountCodePoints(string s)
    {
        int n = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
            n++;
        }
        return n;
    }

    /// <summary>Splits a string into Python characters (code points, as strings).</summary>
    public static List<string> CodePoints(string s)
    {
        var list = new List<string>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                list.Add(s.Substring(i, 2));
                i++;
            }
            else list.Add(s[i].ToString());
        }
        return list;
    }

    public static bool HasSurrogates(string s)
    {
        foreach (char c in s) if (char.IsSurrogate(c)) return true;
        return false;
    }

    // ---- arithmetic ----

    public static object? Add(object? a, object? b, Renderer r)
    {
        CheckDefined(a, b);
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return AsDouble(a) + AsDouble(b);
            return Checked(() => checked(AsLong(a) + AsLong(b)));
        }
        if (a is string sa)
        {
            if (b is string sb) return r.CheckedString((long)sa.Length + sb.Length, () => sa + sb);
            throw new JinjaError($"can only concatenate str (not \"{TypeName(b)}\") to str");
        }
        if (a is PyList la && b is PyList lb && la.IsTuple == lb.IsTuple)
        {
            r.CheckItems((long)la.Count + lb.Count);
            return new PyList([.. la.Items, .. lb.Items], la.IsTuple);
        }
        if (a is PyList { IsTuple: false } && b is not PyList)
            throw new JinjaError($"can only concatenate list (not \"{TypeName(b)}\") to list");
        throw new JinjaError($"unsupported operand type(s) for +: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static object? Subtract(object? a, object? b)
    {
        CheckDefined(a, b);
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return AsDouble(a) - AsDouble(b);
            return Checked(() => checked(AsLong(a) - AsLong(b)));
        }
        throw new JinjaError($"unsupported operand type(s) for -: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static object? Multiply(object? a, object? b, Renderer r)
    {
        CheckDefined(a, b);
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return AsDouble(a) * AsDouble(b);
            return Checked(() => checked(AsLong(a) * AsLong(b)));
        }
        if (a is long or bool && b is string or PyList) (a, b) = (b, a);
        if (a is string s && b is long or bool)
        {
            long n = Math.Max(0, AsLong(b));
            return r.CheckedString(s.Length * n, () => new StringBuilder(s.Length * (int)n).Insert(0, s, (int)n).ToString());
        }
        if (a is PyList l && b is long or bool)
        {
            long n = Math.Max(0, AsLong(b));
            r.CheckItems(l.Count * n);
            var items = new List<object?>();
            for (long i = 0; i < n; i++) items.AddRange(l.Items);
            return new PyList(items, l.IsTuple);
        }
        throw new JinjaError($"unsupported operand type(s) for *: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static object? TrueDivide(object? a, object? b)
    {
        CheckDefined(a, b);
        if (IsNumber(a) && IsNumber(b))
        {
            if (AsDouble(b) == 0) throw new JinjaError(a is double || b is double ? "float division by zero" : "division by zero");
            return AsDouble(a) / AsDouble(b);
        }
        throw new JinjaError($"unsupported operand type(s) for /: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static object? FloorDivide(object? a, object? b)
    {
        CheckDefined(a, b);
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double)
            {
                if (AsDouble(b) == 0) throw new JinjaError("float floor division by zero");
                return Math.Floor(AsDouble(a) / AsDouble(b));
            }
            long x = AsLong(a), y = AsLong(b);
            if (y == 0) throw new JinjaError("integer division or modulo by zero");
            if (y == -1) return Checked(() => checked(-x));
            long q = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
            return q;
        }
        throw new JinjaError($"unsupported operand type(s) for //: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static object? Modulo(object? a, object? b)
    {
        CheckDefined(a, b);
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double)
            {
                double x = AsDouble(a), y = AsDouble(b);
                if (y == 0) throw new JinjaError("float modulo");
                double m = x % y;
                if (m != 0 && (m < 0) != (y < 0)) m += y;
                return m;
            }
            long p = AsLong(a), q = AsLong(b);
            if (q == 0) throw new JinjaError("integer division or modulo by zero");
            if (q == -1) return 0L;
            long r = p % q;
            if (r != 0 && (r < 0) != (q < 0)) r += q;
            return r;
        }
        if (a is string) throw new JinjaError("printf-style string formatting ('%' on a string) is not supported");
        throw new JinjaError($"unsupported operand type(s) for %: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static object? Power(object? a, object? b)
    {
        CheckDefined(a, b);
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double || AsLong(b) < 0) return Math.Pow(AsDouble(a), AsDouble(b));
            long bas = AsLong(a), exp = AsLong(b);
            return Checked(() =>
            {
                // Exponentiation by squaring: (-1) ** 10**18 must not take 10**18 steps.
                long result = 1, factor = bas;
                while (exp > 0)
                {
                    if ((exp & 1) != 0) result = checked(result * factor);
                    exp >>= 1;
                    if (exp > 0) factor = checked(factor * factor);
                }
                return result;
            });
        }
        throw new JinjaError($"unsupported operand type(s) for **: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    public static object? Negate(object? a)
    {
        CheckDefined(a, null);
        return a switch
        {
            double d => -d,
            long or bool => Checked(() => checked(-AsLong(a))),
            _ => throw new JinjaError($"bad operand type for unary -: '{TypeName(a)}'"),
        };
    }

    public static object? Positive(object? a)
    {
        CheckDefined(a, null);
        return a switch
        {
            double d => d,
            long or bool => (object)AsLong(a),
            _ => throw new JinjaError($"bad operand type for unary +: '{TypeName(a)}'"),
        };
    }

    private static object Checked(Func<long> f)
    {
        try
        {
            return f();
        }
        catch (OverflowException)
        {
            throw new JinjaError("integer overflow (LongLM's templates use 64-bit integers)");
        }
    }

    private static void CheckDefined(object? a, object? b)
    {
        if (a is Undefined ua) throw new JinjaError(UndefinedMessage(ua));
        if (b is Undefined ub) throw new JinjaError(UndefinedMessage(ub));
    }

    public static long ToIndex(object? v, string what) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new JinjaError($"{what} indices must be integers, not {TypeName(v)}"),
    };

    public static double ToDouble(object? v) => AsDouble(v);

    public static string FormatInvariant(long l) => l.ToString(CultureInfo.InvariantCulture);
}
