//! Completion and command recording: timeline semaphores (one counter per stream of work; a
//! submission signals the next value, waiters wait for it) and a command pool that hands out
//! primary command buffers for one submission each.
#![allow(unsafe_code)]
// Vulkan calls come in sequences that share one precondition (valid handles of this device,
// recording command buffer); each block's SAFETY comment states it once for the sequence.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::sync::{Arc, Mutex, PoisonError};

use ash::vk;

use crate::context::VulkanContext;
use crate::error::GpuError;

/// A timeline semaphore.
pub struct TimelineSemaphore {
    ctx: Arc<VulkanContext>,
    sem: vk::Semaphore,
}

impl std::fmt::Debug for TimelineSemaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimelineSemaphore")
            .field("sem", &self.sem)
            .finish()
    }
}

impl TimelineSemaphore {
    /// A timeline semaphore starting at `initial`.
    pub fn new(ctx: &Arc<VulkanContext>, initial: u64) -> Result<Self, GpuError> {
        let mut t = vk::SemaphoreTypeCreateInfo::default()
            .semaphore_type(vk::SemaphoreType::TIMELINE)
            .initial_value(initial);
        let info = vk::SemaphoreCreateInfo::default().push_next(&mut t);
        // SAFETY: valid device with timelineSemaphore enabled (required by the context).
        let sem = unsafe { ctx.device().create_semaphore(&info, None) }
            .map_err(GpuError::vk("vkCreateSemaphore"))?;
        Ok(TimelineSemaphore {
            ctx: ctx.clone(),
            sem,
        })
    }

    /// The Vulkan handle (to wait for or signal in submissions).
    pub fn handle(&self) -> vk::Semaphore {
        self.sem
    }

    /// The current counter value.
    pub fn value(&self) -> Result<u64, GpuError> {
        // SAFETY: semaphore of this device.
        unsafe { self.ctx.device().get_semaphore_counter_value(self.sem) }
            .map_err(GpuError::vk("vkGetSemaphoreCounterValue"))
    }

    /// Waits until the counter reaches `value`; `Ok(false)` on timeout.
    pub fn wait(&self, value: u64, timeout_ns: u64) -> Result<bool, GpuError> {
        let sems = [self.sem];
        let vals = [value];
        let info = vk::SemaphoreWaitInfo::default()
            .semaphores(&sems)
            .values(&vals);
        // SAFETY: semaphore of this device; arrays outlive the call.
        match unsafe { self.ctx.device().wait_semaphores(&info, timeout_ns) } {
            Ok(()) => Ok(true),
            Err(vk::Result::TIMEOUT) => Ok(false),
            Err(e) => Err(GpuError::Vk {
                call: "vkWaitSemaphores",
                result: e,
            }),
        }
    }

    /// Sets the counter from the host (must be larger than the current value).
    pub fn signal(&self, value: u64) -> Result<(), GpuError> {
        let info = vk::SemaphoreSignalInfo::default()
            .semaphore(self.sem)
            .value(value);
        // SAFETY: semaphore of this device.
        unsafe { self.ctx.device().signal_semaphore(&info) }
            .map_err(GpuError::vk("vkSignalSemaphore"))
    }
}

impl Drop for TimelineSemaphore {
    fn drop(&mut self) {
        // SAFETY: owned semaphore; users wait for pending signals before dropping it.
        unsafe { self.ctx.device().destroy_semaphore(self.sem, None) };
    }
}

/// A command pool on the context's queue family. Command buffers are allocated, recorded once,
/// submitted, and given back with [`CommandPool::free`] after their work completed.
pub struct CommandPool {
    ctx: Arc<VulkanContext>,
    pool: Mutex<vk::CommandPool>,
}

impl std::fmt::Debug for CommandPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandPool").finish()
    }
}

impl CommandPool {
    /// A pool whose buffers are short-lived.
    pub fn new(ctx: &Arc<VulkanContext>) -> Result<Self, GpuError> {
        let info = vk::CommandPoolCreateInfo::default()
            .queue_family_index(ctx.queue_family())
            .flags(vk::CommandPoolCreateFlags::TRANSIENT);
        // SAFETY: valid device and family.
        let pool = unsafe { ctx.device().create_command_pool(&info, None) }
            .map_err(GpuError::vk("vkCreateCommandPool"))?;
        Ok(CommandPool {
            ctx: ctx.clone(),
            pool: Mutex::new(pool),
        })
    }

    /// Allocates a primary command buffer and begins it for one submission.
    pub fn begin(&self) -> Result<vk::CommandBuffer, GpuError> {
        let pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        let info = vk::CommandBufferAllocateInfo::default()
            .command_pool(*pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: pool locked (externally synchronized), valid device.
        let cmd = unsafe { self.ctx.device().allocate_command_buffers(&info) }
            .map_err(GpuError::vk("vkAllocateCommandBuffers"))?[0];
        let begin = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
        // SAFETY: freshly allocated buffer; its pool stays locked while we touch it.
        if let Err(e) = unsafe { self.ctx.device().begin_command_buffer(cmd, &begin) } {
            // SAFETY: never submitted.
            unsafe { self.ctx.device().free_command_buffers(*pool, &[cmd]) };
            return Err(GpuError::Vk {
                call: "vkBeginCommandBuffer",
                result: e,
            });
        }
        Ok(cmd)
    }

    /// Ends recording of a buffer from [`CommandPool::begin`].
    pub fn end(&self, cmd: vk::CommandBuffer) -> Result<(), GpuError> {
        let _pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: buffer of this pool in the recording state; pool locked.
        unsafe { self.ctx.device().end_command_buffer(cmd) }
            .map_err(GpuError::vk("vkEndCommandBuffer"))
    }

    /// Frees a command buffer whose submission has completed (or that was never submitted).
    pub fn free(&self, cmd: vk::CommandBuffer) {
        let pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: buffer of this pool, not pending (caller).
        unsafe { self.ctx.device().free_command_buffers(*pool, &[cmd]) };
    }

    /// Records with `record`, submits signalling `timeline` to `value`, waits for it and frees
    /// the command buffer.
    pub fn run_and_wait(
        &self,
        timeline: &TimelineSemaphore,
        value: u64,
        record: impl FnOnce(vk::CommandBuffer) -> Result<(), GpuError>,
    ) -> Result<(), GpuError> {
        let cmd = self.begin()?;
        let result = record(cmd)
            .and_then(|()| self.end(cmd))
            .and_then(|()| self.ctx.submit(&[cmd], &[], &[(timeline.handle(), value)]));
        if let Err(e) = result {
            self.free(cmd);
            return Err(e);
        }
        let waited = timeline.wait(value, WAIT_TIMEOUT_NS);
        match waited {
            Ok(true) => {
                self.free(cmd);
                Ok(())
            }
            // The command buffer may still be pending: leak it to the pool (freed with it).
            Ok(false) => Err(GpuError::Timeout {
                what: "a GPU submission",
            }),
            Err(e) => Err(e),
        }
    }
}

/// How long blocking helpers wait for one submission (lavapipe in debug builds is slow).
pub const WAIT_TIMEOUT_NS: u64 = 600_000_000_000;

impl Drop for CommandPool {
    fn drop(&mut self) {
        let pool = *self.pool.get_mut().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: owned pool; no buffer of it is pending (users wait before dropping).
        unsafe { self.ctx.device().destroy_command_pool(pool, None) };
    }
}
