//! Per-run tunables: the memory and table limits, the peak-memory measurement and the wasm
//! stack size of one instance.
//!
//! wasmer keeps its `Tunables` on each `Engine` handle (not in the shared engine state), so a
//! run clones the shared engine handle, installs a [`RunTunables`] on the clone and creates its
//! `Store` from it. Every memory the instance creates is wrapped in a [`LimitedMemory`] that
//! delegates to wasmer's own memory and consults the run's [`Accounting`] before growing.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use wasmer::sys::vm::{
    LinearMemory, MemoryError, MemoryStyle, TableStyle, Trap as VmTrap, VMConfig, VMMemory,
    VMMemoryDefinition, VMSharedMemory, VMTable, VMTableDefinition,
};
use wasmer::sys::{BaseTunables, Tunables};
use wasmer::{MemoryType, Pages, TableType, WASM_PAGE_SIZE};

/// The largest table wasmer itself will create (its `TABLE_MAX_SIZE`); larger maximums make it
/// refuse the table, so the sandbox clamps to it.
const WASMER_TABLE_MAX: u64 = 128 * 1024 * 1024;

/// The largest number of 64 KiB pages a 32-bit memory can have.
const MAX_WASM32_PAGES: u64 = 65536;

const PAGE: u64 = WASM_PAGE_SIZE as u64;

/// What one instance has allocated, against its limits.
#[derive(Debug)]
pub(crate) struct Accounting {
    memory_limit: u64,
    table_limit: u64,
    state: Mutex<AccountingState>,
    /// Whether `state.memory_hit` is set: read on every call without the lock.
    memory_hit_set: AtomicBool,
    /// `state.peak_memory`, likewise.
    peak: AtomicU64,
}

#[derive(Debug, Default)]
struct AccountingState {
    memory_total: u64,
    peak_memory: u64,
    /// Total bytes requested by the allocation or growth that passed the limit.
    memory_hit: Option<u64>,
    table_total: u64,
    /// Total elements requested by the table that passed the limit at instantiation.
    table_hit: Option<u64>,
}

impl Accounting {
    /// Accounting for an instance under these limits.
    pub(crate) fn new(memory_limit: u64, table_limit: u64) -> Self {
        Accounting {
            memory_limit,
            table_limit,
            state: Mutex::new(AccountingState::default()),
            memory_hit_set: AtomicBool::new(false),
            peak: AtomicU64::new(0),
        }
    }

    fn state(&self) -> MutexGuard<'_, AccountingState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The largest total linear memory the instance has had, in bytes.
    pub(crate) fn peak_memory(&self) -> u64 {
        self.peak.load(Ordering::Acquire)
    }

    /// Whether a memory allocation or growth passed the limit since the last reset (the
    /// lock-free form of [`Accounting::memory_hit`]).
    pub(crate) fn any_memory_hit(&self) -> bool {
        self.memory_hit_set.load(Ordering::Acquire)
    }

    /// The total requested when memory passed the limit, if it did since the last reset.
    pub(crate) fn memory_hit(&self) -> Option<u64> {
        self.state().memory_hit
    }

    /// Current total linear memory, in bytes.
    pub(crate) fn memory_total(&self) -> u64 {
        self.state().memory_total
    }

    /// The total requested when tables passed the limit at instantiation, if they did.
    pub(crate) fn table_hit(&self) -> Option<u64> {
        self.state().table_hit
    }

    /// Forgets a previous limit hit (each call is judged on its own).
    pub(crate) fn clear_hits(&self) {
        let mut state = self.state();
        state.memory_hit = None;
        state.table_hit = None;
        self.memory_hit_set.store(false, Ordering::Release);
    }

    /// Reserves `bytes` more linear memory, or records the hit and refuses.
    fn reserve_memory(&self, bytes: u64) -> Result<(), MemoryError> {
        let mut state = self.state();
        let total = state.memory_total.saturating_add(bytes);
        if total > self.memory_limit {
            state.memory_hit = Some(total);
            self.memory_hit_set.store(true, Ordering::Release);
            return Err(MemoryError::Generic(format!(
                "linear memory limit exceeded: {total} bytes requested, limit {} bytes",
                self.memory_limit
            )));
        }
        state.memory_total = total;
        state.peak_memory = state.peak_memory.max(total);
        self.peak.store(state.peak_memory, Ordering::Release);
        Ok(())
    }

    /// Gives back a reservation whose allocation failed; records it as a hit so the run
    /// ends with `memory_limit_exceeded` rather than a generic trap.
    fn release_failed(&self, bytes: u64) {
        let mut state = self.state();
        let requested = state.memory_total;
        state.memory_total = state.memory_total.saturating_sub(bytes);
        state.memory_hit.get_or_insert(requested);
        self.memory_hit_set.store(true, Ordering::Release);
    }

    fn release_memory(&self, bytes: u64) {
        let mut state = self.state();
        state.memory_total = state.memory_total.saturating_sub(bytes);
    }

    /// Reserves a table's initial elements, or records the hit and refuses.
    fn reserve_table(&self, elements: u64) -> Result<(), String> {
        let mut state = self.state();
        let total = state.table_total.saturating_add(elements);
        if total > self.table_limit {
            state.table_hit = Some(total);
            return Err(format!(
                "table limit exceeded: {total} elements requested, limit {} elements",
                self.table_limit
            ));
        }
        state.table_total = total;
        Ok(())
    }

    fn release_table(&self, elements: u64) {
        let mut state = self.state();
        state.table_total = state.table_total.saturating_sub(elements);
    }
}

/// The tunables of one run: wasmer's defaults plus the limits.
pub(crate) struct RunTunables {
    base: BaseTunables,
    accounting: Arc<Accounting>,
    vmconfig: VMConfig,
}

impl RunTunables {
    /// Tunables charging `accounting`, with a wasm stack of `stack_size` bytes.
    pub(crate) fn new(accounting: Arc<Accounting>, stack_size: usize) -> Self {
        RunTunables {
            base: BaseTunables::new(),
            accounting,
            vmconfig: VMConfig {
                wasm_stack_size: Some(stack_size),
            },
        }
    }

    fn limit_table(&self, ty: &TableType) -> Result<TableType, String> {
        let initial = u64::from(ty.minimum);
        self.accounting.reserve_table(initial)?;
        // `table.grow` can never take one table past the limit (or past what wasmer can
        // allocate); the middleware enforces the total over all tables.
        let cap = self.accounting.table_limit.min(WASMER_TABLE_MAX);
        let maximum = ty
            .maximum
            .map_or(cap, |declared| u64::from(declared).min(cap))
            .max(initial);
        let mut limited = *ty;
        limited.maximum = Some(u32::try_from(maximum).unwrap_or(u32::MAX));
        Ok(limited)
    }

    fn limit_memory(
        &self,
        ty: &MemoryType,
        create: impl FnOnce() -> Result<VMMemory, MemoryError>,
    ) -> Result<VMMemory, MemoryError> {
        let initial = u64::from(ty.minimum.0).saturating_mul(PAGE);
        self.accounting.reserve_memory(initial)?;
        match create() {
            Ok(memory) => Ok(VMMemory::from_custom(Box::new(LimitedMemory {
                inner: memory,
                accounting: self.accounting.clone(),
            })
                as Box<dyn LinearMemory + Send + Sync>)),
            Err(err) => {
                self.accounting.release_memory(initial);
                Err(err)
            }
        }
    }
}

impl Tunables for RunTunables {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        // Must agree with the style the code was compiled for (the shared engine's
        // `BaseTunables`).
        self.base.memory_style(memory)
    }

    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }

    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        self.limit_memory(ty, || self.base.create_host_memory(ty, style))
    }

    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        self.limit_memory(ty, || {
            // SAFETY: forwarded unchanged from wasmer, which guarantees the location is valid.
            unsafe {
                self.base
                    .create_vm_memory(ty, style, vm_definition_location)
            }
        })
    }

    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        let limited = self.limit_table(ty)?;
        self.base
            .create_host_table(&limited, style)
            .inspect_err(|_| self.accounting.release_table(u64::from(ty.minimum)))
    }

    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        let limited = self.limit_table(ty)?;
        // SAFETY: forwarded unchanged from wasmer, which guarantees the location is valid.
        unsafe {
            self.base
                .create_vm_table(&limited, style, vm_definition_location)
        }
        .inspect_err(|_| self.accounting.release_table(u64::from(ty.minimum)))
    }

    fn vmconfig(&self) -> &VMConfig {
        &self.vmconfig
    }
}

/// A wasmer memory that asks the run's [`Accounting`] before growing.
#[derive(Debug)]
struct LimitedMemory {
    inner: VMMemory,
    accounting: Arc<Accounting>,
}

impl LimitedMemory {
    /// The most pages this memory may ever have: its declared maximum, or the wasm32 maximum.
    fn maximum_pages(&self) -> u64 {
        self.inner
            .ty()
            .maximum
            .map_or(MAX_WASM32_PAGES, |pages| u64::from(pages.0))
            .min(MAX_WASM32_PAGES)
    }
}

impl LinearMemory for LimitedMemory {
    fn ty(&self) -> MemoryType {
        self.inner.ty()
    }

    fn size(&self) -> Pages {
        self.inner.size()
    }

    fn style(&self) -> MemoryStyle {
        self.inner.style()
    }

    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        let current = self.inner.size();
        if delta.0 == 0 {
            return Ok(current);
        }
        let new_pages = u64::from(current.0) + u64::from(delta.0);
        if new_pages > self.maximum_pages() {
            // Past the memory's own maximum: plain wasm semantics, not a sandbox limit.
            return Err(MemoryError::CouldNotGrow {
                current,
                attempted_delta: delta,
            });
        }
        let bytes = u64::from(delta.0) * PAGE;
        self.accounting.reserve_memory(bytes)?;
        self.inner.grow(delta).inspect_err(|_| {
            self.accounting.release_failed(bytes);
        })
    }

    fn grow_at_least(&mut self, min_size: u64) -> Result<(), MemoryError> {
        let current = u64::from(self.inner.size().0) * PAGE;
        if current >= min_size {
            return Ok(());
        }
        let pages = (min_size - current).div_ceil(PAGE);
        let pages = u32::try_from(pages).map_err(|_| MemoryError::CouldNotGrow {
            current: self.inner.size(),
            attempted_delta: Pages(u32::MAX),
        })?;
        self.grow(Pages(pages)).map(|_| ())
    }

    fn reset(&mut self) -> Result<(), MemoryError> {
        let bytes = u64::from(self.inner.size().0) * PAGE;
        self.inner.reset()?;
        self.accounting.release_memory(bytes);
        Ok(())
    }

    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.inner.vmmemory()
    }

    fn try_clone(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Err(MemoryError::UnsupportedOperation {
            message: "sandboxed memories cannot be cloned".into(),
        })
    }

    unsafe fn initialize_with_data(&self, start: usize, data: &[u8]) -> Result<(), VmTrap> {
        // SAFETY: forwarded unchanged; wasmer bounds-checks segments before calling this.
        unsafe { self.inner.initialize_with_data(start, data) }
    }

    fn copy(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Err(MemoryError::UnsupportedOperation {
            message: "sandboxed memories cannot be copied".into(),
        })
    }

    fn as_shared(&self) -> Result<VMSharedMemory, MemoryError> {
        Err(MemoryError::MemoryNotShared)
    }
}
