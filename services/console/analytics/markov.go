package analytics

import (
	"math"
	"slices"
	"strings"
)

// Path is one distinct journey through the channels, with how many persons
// took it: Conversions ended in a lead, Nulls did not. RevenueMinor is the
// won revenue of the converting ones.
type Path struct {
	Channels     []string
	Conversions  int64
	Nulls        int64
	RevenueMinor int64
}

// MarkovChannel is one channel's data-driven credit.
type MarkovChannel struct {
	Channel string
	// RemovalEffect is 1 − P(without the channel)/P: the share of
	// conversions the chain loses when the channel is taken out.
	RemovalEffect float64
	// Share is RemovalEffect over the sum of every channel's.
	Share float64
	// Conversions and RevenueMinor are Share of the totals.
	Conversions  float64
	RevenueMinor float64
}

// MarkovResult is the removal-effect attribution of a set of paths.
type MarkovResult struct {
	// ConversionProbability is P: the chance that a journey from start
	// ends in a conversion.
	ConversionProbability float64
	Conversions           int64
	RevenueMinor          int64
	// Channels, by share (largest first), then name. Empty when no path
	// converted.
	Channels []MarkovChannel
}

// Markov attributes conversions by the removal effect of a first-order
// Markov chain over the paths: states start, every channel, conversion and
// null; transition probabilities are the counts of each step over every
// journey. A run of the same channel is one visit (A→A→B is A→B): a
// self-loop only delays absorption and would change nothing but the cost of
// solving, and collapsing is the usual choice in the literature. Removing a
// channel sends every transition into it to null. Pure computation: no I/O.
func Markov(paths []Path) MarkovResult {
	var res MarkovResult
	index := map[string]int{}
	var names []string
	for _, p := range paths {
		if p.Conversions <= 0 && p.Nulls <= 0 {
			continue
		}
		res.Conversions += max(p.Conversions, 0)
		if p.Conversions > 0 {
			res.RevenueMinor += p.RevenueMinor
		}
		for _, c := range p.Channels {
			if _, ok := index[c]; !ok {
				index[c] = len(names)
				names = append(names, c)
			}
		}
	}
	if res.Conversions == 0 {
		return res
	}
	// States: 0 start, 1..n the channels, n+1 conversion, n+2 null.
	n := len(names)
	conv, null := n+1, n+2
	counts := make([][]float64, n+1)
	for i := range counts {
		counts[i] = make([]float64, n+3)
	}
	for _, p := range paths {
		c, u := float64(max(p.Conversions, 0)), float64(max(p.Nulls, 0))
		if c+u == 0 {
			continue
		}
		from := 0
		for _, ch := range p.Channels {
			to := index[ch] + 1
			if to == from {
				continue // a repeat of the same channel is one visit
			}
			counts[from][to] += c + u
			from = to
		}
		counts[from][conv] += c
		counts[from][null] += u
	}
	// Row-normalise into probabilities.
	for _, row := range counts {
		var sum float64
		for _, v := range row {
			sum += v
		}
		if sum > 0 {
			for j := range row {
				row[j] /= sum
			}
		}
	}
	res.ConversionProbability = absorb(counts, -1)
	if res.ConversionProbability <= 0 {
		return res
	}
	res.Channels = make([]MarkovChannel, n)
	var total float64
	for i, name := range names {
		re := 1 - absorb(counts, i+1)/res.ConversionProbability
		re = min(max(re, 0), 1) // rounding can leave it a hair outside
		res.Channels[i] = MarkovChannel{Channel: name, RemovalEffect: re}
		total += re
	}
	for i := range res.Channels {
		ch := &res.Channels[i]
		if total > 0 {
			ch.Share = ch.RemovalEffect / total
		}
		ch.Conversions = ch.Share * float64(res.Conversions)
		ch.RevenueMinor = ch.Share * float64(res.RevenueMinor)
	}
	slices.SortFunc(res.Channels, func(a, b MarkovChannel) int {
		if a.Share != b.Share {
			if a.Share > b.Share {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Channel, b.Channel)
	})
	return res
}

// absorb is the probability of reaching conversion from start, with the
// state removed (its transitions in go to null) unless removed < 0. It
// solves x = Q·x + b over the transient states (start and the channels) by
// Gaussian elimination with partial pivoting: channels are tens, so O(n³)
// per removal is nothing, and it is exact where iteration only converges.
// Every transient state seen in a path leads to an absorbing one, so the
// system is regular.
func absorb(t [][]float64, removed int) float64 {
	m := len(t) // transient states
	conv := m
	a := make([][]float64, m)
	for i := range a {
		a[i] = make([]float64, m+1)
		if i == removed {
			a[i][i] = 1 // x_removed = 0
			continue
		}
		for j := 0; j < m; j++ {
			a[i][j] = -t[i][j]
		}
		a[i][i]++
		a[i][m] = t[i][conv]
	}
	for col := 0; col < m; col++ {
		p := col
		for r := col + 1; r < m; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[p][col]) {
				p = r
			}
		}
		if a[p][col] == 0 {
			continue // a state never left: it cannot reach conversion
		}
		a[col], a[p] = a[p], a[col]
		for r := 0; r < m; r++ {
			if r == col || a[r][col] == 0 {
				continue
			}
			f := a[r][col] / a[col][col]
			for k := col; k <= m; k++ {
				a[r][k] -= f * a[col][k]
			}
		}
	}
	if a[0][0] == 0 {
		return 0
	}
	return a[0][m] / a[0][0]
}
